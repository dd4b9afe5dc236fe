// Vite turns `import './app.css'` into app.css next to app.js.
declare module '*.css';
