'use strict';
'require view';
'require rpc';

// Services → Mail Server. A thin LuCI view: the page itself is the Preact app in
// mailserver/app.js (built from src-ui/ by `node src-ui/build.mjs`). LuCI evaluates this file
// inside a function, so the app comes in through a dynamic import, and LuCI loads no CSS for a
// view, so its stylesheet is linked here once.

return view.extend({
	load: function() {
		return import(L.resource('mailserver/app.js') + '?v=' + L.env.resource_version);
	},

	render: function(mod) {
		if (!document.querySelector('link[data-mailserver-css]')) {
			document.head.appendChild(E('link', {
				'rel': 'stylesheet',
				'href': L.resource('mailserver/app.css') + '?v=' + L.env.resource_version,
				'data-mailserver-css': 'true'
			}));
		}

		var el = E('div', { 'id': 'mailserver-app' });
		mod.mount(el, { rpc: rpc, L: L });
		return el;
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
