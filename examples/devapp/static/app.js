// Shows the server's clock, reconnecting when the socket closes (the dev
// server closes it with 1001 when the application restarts).
(() => {
	const url = document.currentScript.dataset.socket;
	const clock = document.getElementById("clock");
	const status = document.getElementById("status");
	function connect() {
		const ws = new WebSocket(url);
		ws.onopen = () => { status.textContent = "connected"; };
		ws.onmessage = (e) => { clock.textContent = e.data; };
		ws.onclose = (e) => {
			status.textContent = "disconnected (" + e.code + ")";
			setTimeout(connect, 1000 + Math.random() * 1000);
		};
	}
	connect();
})();
