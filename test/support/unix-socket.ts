// Unix-socket clients for the system tests: HTTP to Rspamd's controller as root, and a bare
// connect as another user (setpriv) to show what a local user can reach.
import { spawnSync } from 'node:child_process';
import http from 'node:http';

/** GET `path` from an HTTP server on a Unix socket; the body, or null when nothing answers. */
export function httpGetUnix(socketPath: string, path: string, timeoutMs = 2000): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

/**
 * Connect to a Unix socket as `user` (setpriv drops every group) and send `request`: `answer`
 * is what came back, or `error` (e.g. "PermissionError") when the connect failed.
 */
export function connectUnixAs(user: string, socketPath: string, request = ''): { answer: string | null; error: string | null } {
  const code = `
import socket, sys, json
try:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sys.argv[1])
    s.sendall(sys.stdin.buffer.read())
    data = s.recv(4096)
    print(json.dumps({"answer": data.decode("latin-1"), "error": None}))
except Exception as e:
    print(json.dumps({"answer": None, "error": type(e).__name__}))
`;
  const r = spawnSync('setpriv', ['--reuid', user, '--regid', 'nogroup', '--clear-groups', '/usr/bin/python3', '-c', code, socketPath], { input: request, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`setpriv ${user}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { answer: string | null; error: string | null };
}
