// Injected by "pistoke run -reload" into the pages it serves: reloads the
// page when the program restarts, swaps stylesheets when only they
// changed, and shows build errors over the page.
(() => {
	const me = document.currentScript;
	let version = me.dataset.version;
	const scheme = location.protocol === "https:" ? "wss://" : "ws://";
	const url = scheme + location.host + "/__pistoke/reload";
	const overlayID = "__pistoke_error";
	let delay = 100;

	function showError(text) {
		let box = document.getElementById(overlayID);
		if (!box) {
			box = document.createElement("div");
			box.id = overlayID;
			box.style.cssText = "position:fixed;inset:0;z-index:2147483647;overflow:auto;" +
				"background:rgba(20,20,20,.92);color:#f8f8f2;padding:2rem;" +
				"font:14px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace";
			const close = document.createElement("button");
			close.textContent = "×";
			close.title = "Hide until the next change";
			close.style.cssText = "position:absolute;top:1rem;right:1rem;font-size:1.5rem;" +
				"background:none;color:inherit;border:0;cursor:pointer";
			close.onclick = () => box.remove();
			const pre = document.createElement("pre");
			pre.style.cssText = "white-space:pre-wrap;margin:0;color:#ff6e6e";
			box.append(close, pre);
			(document.body || document.documentElement).append(box);
		}
		box.querySelector("pre").textContent = text;
	}

	function hideError() {
		const box = document.getElementById(overlayID);
		if (box) box.remove();
	}

	function swapStylesheets() {
		for (const link of document.querySelectorAll('link[rel="stylesheet"]')) {
			const u = new URL(link.href);
			if (u.origin !== location.origin) continue;
			u.searchParams.set("__pistoke", Date.now());
			const next = link.cloneNode();
			next.href = u.href;
			next.onload = () => link.remove();
			link.after(next);
		}
	}

	function connect() {
		const ws = new WebSocket(url);
		ws.onopen = () => { delay = 100; };
		ws.onmessage = (e) => {
			const m = JSON.parse(e.data);
			switch (m.type) {
			case "hello":
				if (m.version !== version) {
					location.reload();
					return;
				}
				if (m.error) showError(m.error); else hideError();
				break;
			case "reload":
				if (m.version !== version) location.reload();
				break;
			case "css":
				version = m.version;
				swapStylesheets();
				break;
			case "error":
				showError(m.error);
				break;
			}
		};
		ws.onclose = () => {
			// The server restarts: try again, less and less often.
			setTimeout(connect, delay + Math.random() * delay);
			delay = Math.min(delay * 2, 3000);
		};
	}
	connect();
})();
