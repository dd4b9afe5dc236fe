// A minimal LuCI client runtime for the local page of `npm start` and the browser tests: just
// what a LuCI JS view meets on a router — L (env, resource, require, error, raise,
// hasViewPermission), E, and the classes view, rpc, ui, dom, baseclass — behaving like LuCI's
// luci.js / rpc.js / ui.js where our view and app touch them:
//
// - L.require('view.x.y') fetches /luci-static/resources/view/x/y.js, reads its leading
//   'use strict' / 'require name' directives and evaluates the source inside a function
//   (strict mode, top-level return; a static import is a syntax error there, as in LuCI), then
//   instantiates the class it returns; a view's __init__ runs load() → render() into #view and
//   adds the Save/Apply/Reset footer unless the handlers are null.
// - rpc.declare: JSON-RPC 2.0 "call" POSTed to env.ubuspath with env.sessionid; params by name;
//   result [status, data] → data (or the status number); `expect` picks a key; a JSON-RPC error
//   rejects with an RPCError whose message carries a stack line. Interceptors run first, and
//   the one LuCI installs is here too: on -32002 it asks session.access(uci, luci, read) and,
//   when that fails, shows LuCI's blocking "Session expired" dialog (SessionError).
// - L.hasViewPermission(): from env.nodespec, the node LuCI's dispatcher resolved (the shell's
//   server.ts computes it from the menu entry's depends.acl, as dispatcher.uc does).
// - At start, like LuCI's initDOM: luci.getFeatures through rpc (so a login lacking the
//   `unauthenticated` group meets the interceptor and the "Session expired" dialog), then the view.
// The login form, the menu and the 403s come from the server (server.ts), as LuCI renders them.
// Not emulated: batching (each declared call is its own request), translations.
(function () {
	'use strict';

	var classes = {};
	var interceptors = [];
	var rpcRequestID = 1;

	function isObject(v) { return v != null && typeof v == 'object' && !Array.isArray(v); }

	// --- errors (LuCI.raise / LuCI.error) ---

	function raise(type, msg) {
		var e = new Error(msg || 'Unspecified error');
		e.name = type || 'Error';
		var stack = (new Error('stacktrace').stack || '').split(/\n/).slice(2).map(function (f) { return '  ' + f.trim(); });
		if (stack.length) e.message += '\n' + stack.slice(0, 1).join('\n');
		throw e;
	}

	function error(e) {
		if (e && e.name === 'SessionError') throw e;
		var vp = document.getElementById('view');
		if (vp) dom.content(vp, E('div', { 'class': 'alert-message error' }, [E('h4', {}, e && e.name || 'Runtime error'), E('pre', {}, String(e && e.message || e))]));
		throw e;
	}

	// --- E and dom ---

	function E(tag, attrs, children) {
		if (attrs != null && (typeof attrs == 'string' || Array.isArray(attrs) || attrs instanceof Node)) { children = attrs; attrs = null; }
		var el = document.createElement(tag);
		for (var k in attrs || {}) {
			var v = attrs[k];
			if (v == null) continue;
			if (typeof v == 'function') el.addEventListener(k, v);
			else if (isObject(v)) el.setAttribute(k, JSON.stringify(v));
			else el.setAttribute(k, v);
		}
		dom.append(el, children);
		return el;
	}

	var dom = {
		append: function (node, children) {
			if (children == null) return node;
			if (Array.isArray(children)) children.forEach(function (c) { dom.append(node, c); });
			else if (children instanceof Node) node.appendChild(children);
			else node.appendChild(document.createTextNode(String(children)));
			return node;
		},
		content: function (node, children) {
			while (node.firstChild) node.removeChild(node.firstChild);
			return dom.append(node, children);
		}
	};

	// --- class system (baseclass) ---

	function Class() {}
	Class.extend = function (props) {
		var Parent = this;
		function C() {
			if (typeof this.__init__ == 'function') this.__init__.apply(this, arguments);
		}
		C.prototype = Object.create(Parent.prototype);
		C.prototype.constructor = C;
		C.prototype.super = function (name, args) { return Parent.prototype[name].apply(this, args || []); };
		for (var k in props) C.prototype[k] = props[k];
		C.extend = Class.extend;
		C.isSubclass = function (o) { return o != null && o.prototype instanceof C; };
		return C;
	};

	// --- ui ---

	var ui = {
		showModal: function (title, children) {
			var overlay = document.getElementById('modal_overlay');
			var modal = overlay.firstElementChild;
			dom.content(modal, [title ? E('h4', {}, title) : null].concat(children || []));
			document.body.classList.add('modal-overlay-active');
			return modal;
		},
		hideModal: function () { document.body.classList.remove('modal-overlay-active'); },
		addNotification: function (title, children, cls) {
			var n = E('div', { 'class': 'alert-message fade-in ' + (cls || '') }, [
				E('button', { 'class': 'btn', 'style': 'float:right', 'click': function () { n.remove(); } }, 'Dismiss'),
				title ? E('h4', {}, title) : null
			].concat(children || []));
			var mc = document.getElementById('maincontent');
			mc.insertBefore(n, mc.firstChild);
			return n;
		}
	};

	// LuCI's ui.js: the button reloads the page without its hash, which then asks for a login.
	function notifySessionExpiry() {
		ui.showModal('Session expired', [
			E('div', { 'class': 'alert-message warning' }, 'A new login is required since the authentication session expired.'),
			E('div', { 'class': 'right' }, E('div', { 'class': 'btn primary', 'click': function () {
				location.href = location.protocol + '//' + location.host + location.pathname + location.search;
			} }, 'Log in…'))
		]);
		raise('SessionError', 'Login session is expired');
	}

	// --- rpc ---

	var rpc = {
		getSessionID: function () { return L.env.sessionid; },
		setSessionID: function (sid) { L.env.sessionid = sid; },
		getBaseURL: function () { return L.env.ubuspath; },
		setBaseURL: function (url) { L.env.ubuspath = url; },
		addInterceptor: function (fn) { if (typeof fn == 'function') interceptors.push(fn); return fn; },
		removeInterceptor: function (fn) { var i = interceptors.indexOf(fn); if (i >= 0) interceptors.splice(i, 1); },

		declare: function (options) {
			return function () {
				var params = {};
				var names = Array.isArray(options.params) ? options.params : [];
				for (var i = 0; i < names.length; i++) params[names[i]] = arguments[i];
				var req = { object: options.object, method: options.method, params: params, expect: options.expect, filter: options.filter, raise: options.reject };
				return rpc.call(req);
			};
		},

		call: function (req) {
			var body = { jsonrpc: '2.0', id: rpcRequestID++, method: 'call', params: [L.env.sessionid || '00000000000000000000000000000000', req.object, req.method, req.params] };
			var ctl = new AbortController();
			var timer = setTimeout(function () { ctl.abort(); }, (L.env.rpctimeout || 20) * 1000);
			return fetch(L.env.ubuspath, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin', signal: ctl.signal })
				.then(function (res) {
					clearTimeout(timer);
					if (!res.ok) raise('RPCError', 'RPC call to ' + req.object + '/' + req.method + ' failed with HTTP error ' + res.status + ': ' + (res.statusText || '?'));
					return res.json();
				}, function (e) {
					clearTimeout(timer);
					raise(e && e.name == 'AbortError' ? 'TimeoutError' : 'NetworkError', 'RPC call to ' + req.object + '/' + req.method + ' failed: ' + (e && e.message || e));
				})
				.then(function (msg) {
					return Promise.all(interceptors.map(function (fn) { return fn(msg, req); })).then(function () { return rpc.handleCallReply(req, msg); });
				});
		},

		handleCallReply: function (req, msg) {
			if (!isObject(msg) || msg.jsonrpc != '2.0') raise('RPCError', 'RPC call to ' + req.object + '/' + req.method + ' returned invalid message frame');
			if (isObject(msg.error) && msg.error.code && msg.error.message) raise('RPCError', 'RPC call to ' + req.object + '/' + req.method + ' failed with error ' + msg.error.code + ': ' + msg.error.message);
			var ret = null;
			if (Array.isArray(msg.result)) {
				if (req.raise && msg.result[0] !== 0) raise('RPCError', 'RPC call to ' + req.object + '/' + req.method + ' failed with ubus code ' + msg.result[0]);
				ret = msg.result.length > 1 ? msg.result[1] : msg.result[0];
			}
			if (req.expect) {
				for (var key in req.expect) {
					if (ret != null && key != '') ret = ret[key];
					if (ret == null || Object.prototype.toString.call(ret) != Object.prototype.toString.call(req.expect[key])) ret = req.expect[key];
					break;
				}
			}
			if (typeof req.filter == 'function') ret = req.filter(ret, req.params);
			return ret;
		}
	};

	// LuCI's own interceptor (luci.js setupDOM).
	rpc.addInterceptor(function (msg, req) {
		if (!isObject(msg) || !isObject(msg.error) || msg.error.code != -32002) return;
		if (!isObject(req) || (req.object == 'session' && req.method == 'access')) return;
		return rpc.declare({ object: 'session', method: 'access', params: ['scope', 'object', 'function'], expect: { access: true } })('uci', 'luci', 'read').catch(notifySessionExpiry);
	});

	// --- view ---

	var View = Class.extend({
		__init__: function () {
			var vp = document.getElementById('view');
			var self = this;
			dom.content(vp, E('div', { 'class': 'spinning' }, 'Loading view…'));
			return Promise.resolve(this.load())
				.then(function (data) { return self.render(data); })
				.then(function (nodes) {
					dom.content(vp, nodes);
					dom.append(vp, self.addFooter());
				})
				.catch(error);
		},
		load: function () {},
		render: function () {},
		handleSave: function () {},
		handleSaveApply: function () {},
		handleReset: function () {},
		addFooter: function () {
			if (!this.handleSaveApply && !this.handleSave && !this.handleReset) return E('div');
			return E('div', { 'class': 'cbi-page-actions' }, [
				this.handleSaveApply ? E('button', { 'class': 'cbi-button cbi-button-apply' }, 'Save & Apply') : null,
				this.handleSave ? E('button', { 'class': 'cbi-button cbi-button-save' }, 'Save') : null,
				this.handleReset ? E('button', { 'class': 'cbi-button cbi-button-reset' }, 'Reset') : null
			]);
		}
	});

	// --- L ---

	var builtins = { baseclass: Class, view: View, rpc: rpc, ui: ui, dom: dom };

	function directives(source) {
		var out = [];
		var re = /^(?:\s|\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)*(['"])([^'"\n]*)\1\s*;?/;
		var m;
		while ((m = re.exec(source))) {
			out.push(m[2]);
			source = source.slice(m[0].length);
		}
		return out;
	}

	var L = {
		env: {},
		ui: ui,
		isObject: isObject,
		raise: raise,
		error: error,
		bind: function (fn, self) { return fn.bind(self); },
		resource: function () {
			return [L.env.resource].concat(Array.prototype.slice.call(arguments)).join('/').replace(/\/+/g, '/');
		},
		url: function () { return '/' + Array.prototype.slice.call(arguments).join('/'); },
		hasViewPermission: function () {
			var ns = L.env.nodespec;
			if (!isObject(ns) || !ns.satisfied) return null;
			return !ns.readonly;
		},
		require: function (name) {
			if (builtins[name]) return Promise.resolve(builtins[name]);
			if (classes[name]) return Promise.resolve(classes[name]);
			var url = L.resource(name.replace(/\./g, '/') + '.js') + (L.env.resource_version ? '?v=' + L.env.resource_version : '');
			return fetch(url, { cache: 'no-cache' }).then(function (res) {
				if (!res.ok) raise('NetworkError', 'HTTP error ' + res.status + ' while loading class file "' + url + '"');
				return res.text();
			}).then(function (source) {
				var names = [];
				var deps = directives(source).map(function (d) {
					var m = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/.exec(d);
					if (!m) return null;
					names.push(m[2] || m[1].replace(/.*\./, ''));
					return L.require(m[1]);
				}).filter(Boolean);
				return Promise.all(deps).then(function (instances) {
					var factory;
					try {
						factory = (0, eval)('(function(window, document, L' + names.map(function (n) { return ', ' + n; }).join('') + ') { ' + source + '\n})\n//# sourceURL=' + location.origin + url);
					} catch (e) {
						raise('SyntaxError', e.message + '\n  in ' + url);
					}
					var C = factory.apply(factory, [window, document, L].concat(instances));
					if (typeof C != 'function') raise('TypeError', '"' + name + '" factory yields invalid constructor');
					classes[name] = new C();
					return classes[name];
				});
			});
		}
	};

	window.L = L;
	window.E = E;

	// --- the shell page: theme, feature probe, the view ---

	function boot() {
		var cfg = JSON.parse(document.getElementById('shell-env').textContent);
		L.env = cfg;
		var theme = new URLSearchParams(location.search).get('theme') || localStorage.getItem('luci-shell-theme') || 'auto';
		var dark = theme == 'dark' || (theme == 'auto' && matchMedia('(prefers-color-scheme: dark)').matches);
		document.documentElement.setAttribute('data-darkmode', dark ? 'true' : 'false');
		document.getElementById('theme-toggle').addEventListener('click', function (ev) {
			ev.preventDefault();
			localStorage.setItem('luci-shell-theme', dark ? 'light' : 'dark');
			location.reload();
		});
		if (!cfg.sessionid || !cfg.view) return; // the login form: rendered by the server

		// LuCI's probeSystemFeatures, then the view whatever the probe gave (LuCI: .finally).
		var probe = rpc.declare({ object: 'luci', method: 'getFeatures', expect: { '': {} } })().then(function (features) { L.env.features = features; });
		probe.catch(function () {}).then(function () {
			return L.require('view.' + cfg.view.replace(/\//g, '.'));
		}).catch(function (e) { if (!e || e.name !== 'SessionError') console.error(e); });
	}

	document.addEventListener('DOMContentLoaded', boot);
})();
