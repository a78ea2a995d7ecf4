// SPDX-License-Identifier: MIT
// The task view: plain JavaScript over /api/tasks, /api/traces,
// /api/traces/{id}, /api/rates and /health. Every value reaches the page
// through textContent, never as markup.
"use strict";

(function () {
	const $ = (id) => document.getElementById(id);
	const views = ["tasks", "traces", "trace", "rates", "agent"];
	const REFRESH_MS = { tasks: 1000, traces: 2000, rates: 5000, agent: 2000 };
	const TASK_ROWS = 1000;
	const TRACE_ROWS = 200;
	let route = { view: "tasks", id: null };
	let timer = null;
	let generation = 0;
	let services = new Set();

	function el(tag, cls, text) {
		const e = document.createElement(tag);
		if (cls) e.className = cls;
		if (text !== undefined && text !== null) e.textContent = String(text);
		return e;
	}

	function td(text, cls) {
		return el("td", cls, text);
	}

	function seconds(s) {
		if (s === null || s === undefined) return "–";
		if (s >= 3600) return (s / 3600).toFixed(1) + " h";
		if (s >= 60) return (s / 60).toFixed(1) + " min";
		if (s >= 1) return s.toFixed(2) + " s";
		if (s >= 0.001) return (s * 1000).toFixed(1) + " ms";
		return (s * 1e6).toFixed(0) + " µs";
	}

	function clock(us) {
		return new Date(us / 1000).toLocaleTimeString();
	}

	async function getJSON(path) {
		const r = await fetch(path, { cache: "no-store" });
		const body = await r.json();
		if (!r.ok) throw new Error(body.error || r.status);
		return body;
	}

	function replaceRows(tbody, rows, emptyText, columns) {
		if (rows.length === 0) {
			const tr = el("tr", "empty");
			const c = td(emptyText);
			c.colSpan = columns;
			tr.appendChild(c);
			rows = [tr];
		}
		tbody.replaceChildren(...rows);
	}

	function mark(name, started) {
		document.documentElement.dataset["render" + name] = (performance.now() - started).toFixed(1);
	}

	// ---- in flight -------------------------------------------------------

	async function showTasks() {
		const t0 = performance.now();
		const d = await getJSON("/api/tasks?limit=" + TASK_ROWS);
		$("tasks-count").textContent = d.count;
		const rows = d.tasks.map((t) => {
			const tr = el("tr", t.stuck ? "stuck task" : "task");
			const name = td(t.name);
			if (t.stuck) name.appendChild(el("span", "tag stuck", "stuck"));
			tr.append(name, td(t.id, "mono"), td(t.service), td(t.process + " " + t.pid),
				td(t.step === null ? "–" : t.step), td(t.attempt, "num"),
				td(seconds(t.age_seconds), "num"));
			return tr;
		});
		replaceRows($("tasks-body"), rows, "no task in flight", 7);
		let s = d.count + " in flight";
		if (d.stuck) s += ", " + d.stuck + " stuck (open longer than " + seconds(d.stuck_after_seconds) + ")";
		if (d.truncated) s += "; the oldest " + d.tasks.length + " shown";
		$("tasks-summary").textContent = s;
		mark("Tasks", t0);
	}

	// ---- recent ----------------------------------------------------------

	function traceQuery() {
		const q = new URLSearchParams({ limit: TRACE_ROWS });
		const name = $("filter-name").value.trim();
		const status = $("filter-status").value;
		const service = $("filter-service").value;
		if (name) q.set("name", name);
		if (status) q.set("status", status);
		if (service) q.set("service", service);
		return q.toString();
	}

	function addServices(traces) {
		const sel = $("filter-service");
		for (const t of traces) {
			if (!t.service || services.has(t.service)) continue;
			services.add(t.service);
			const o = el("option", null, t.service);
			o.value = t.service;
			sel.appendChild(o);
		}
	}

	async function showTraces() {
		const t0 = performance.now();
		const q = traceQuery();
		const d = await getJSON("/api/traces?" + q);
		if (q !== traceQuery()) return; // the filter changed meanwhile: a newer answer comes
		addServices(d.traces);
		const rows = d.traces.map((t) => {
			const tr = el("tr", "trace " + t.status);
			tr.dataset.id = t.trace_id;
			const status = td(null);
			status.appendChild(el("span", "tag " + t.status, t.status));
			const name = td(null);
			const link = el("a", null, t.name);
			link.href = "#/trace/" + t.trace_id; // a link: keyboard, new tab, copy
			name.appendChild(link);
			tr.append(name, td(t.trace_id.slice(0, 8), "mono"), td(t.service), status,
				td(t.spans, "num"), td(seconds(t.duration_us / 1e6), "num"),
				td(clock(t.start_unix_us + t.duration_us)));
			tr.addEventListener("click", () => { location.hash = "#/trace/" + t.trace_id; });
			return tr;
		});
		replaceRows($("traces-body"), rows, "no finished trace matches", 7);
		let s = d.count + " of the " + d.kept + " kept (at most " + d.capacity + ", " +
			(d.bytes / 1048576).toFixed(1) + " MiB)";
		if (d.truncated) s += "; the newest " + d.traces.length + " shown";
		$("traces-summary").textContent = s;
		$("traces-count").textContent = d.kept;
		mark("Traces", t0);
	}

	// ---- one trace: the waterfall ----------------------------------------

	// The console's tree: children under their parent by start time; a span
	// whose parent is not in the trace is a root.
	function tree(spans) {
		const byId = new Map(spans.map((s) => [s.span_id, s]));
		const kids = new Map();
		const roots = [];
		for (const s of spans) {
			if (s.parent_id && byId.has(s.parent_id) && s.parent_id !== s.span_id) {
				if (!kids.has(s.parent_id)) kids.set(s.parent_id, []);
				kids.get(s.parent_id).push(s);
			} else {
				roots.push(s);
			}
		}
		const order = [];
		const seen = new Set();
		const byStart = (a, b) => a.start_unix_us - b.start_unix_us;
		function walk(s, depth) {
			if (seen.has(s.span_id)) return;
			seen.add(s.span_id);
			order.push({ span: s, depth });
			for (const k of (kids.get(s.span_id) || []).sort(byStart)) walk(k, depth + 1);
		}
		for (const r of roots.sort(byStart)) walk(r, 0);
		return order;
	}

	function namesakes(spans) {
		const n = new Map();
		for (const s of spans) {
			const k = (s.parent_id || "") + "\u0000" + s.name;
			n.set(k, (n.get(k) || 0) + 1);
		}
		return (s) => n.get((s.parent_id || "") + "\u0000" + s.name) > 1;
	}

	async function showTrace(id) {
		const t0 = performance.now();
		let d;
		try {
			d = await getJSON("/api/traces/" + encodeURIComponent(id));
		} catch (e) {
			$("trace-title").textContent = "Trace not found";
			$("trace-summary").textContent = "It is no longer among the recent traces.";
			$("waterfall").replaceChildren();
			return;
		}
		const t = d.trace;
		$("trace-title").textContent = t.name + " ";
		$("trace-title").appendChild(el("span", "mono", t.trace_id));
		$("trace-summary").textContent = t.spans + " spans, " + t.errors + " errors, " +
			seconds(t.duration_us / 1e6) + ", service " + (t.service || "–") +
			", finished " + clock(t.start_unix_us + t.duration_us);
		const begin = t.start_unix_us;
		const total = Math.max(t.duration_us, 1);
		const retried = namesakes(d.spans);
		const out = [];
		for (const { span: s, depth } of tree(d.spans)) {
			const row = el("div", "span-row " + s.role + (s.status === "error" ? " error" : ""));
			row.dataset.spanId = s.span_id;
			const label = el("div", "label");
			label.style.paddingLeft = (8 + depth * 18) + "px";
			let text = s.name;
			if (s.attempt > 1 || (s.attempt && retried(s))) text += " #" + s.attempt;
			label.textContent = text;
			if (s.status === "error") label.appendChild(el("span", "tag error", "ERROR"));
			if (s.cut) label.appendChild(el("span", "tag stuck", s.cut));
			label.title = s.name;
			const where = el("div", "where", (s.process || s.service) + " " + s.pid);
			const track = el("div", "track");
			const bar = el("div", "bar");
			bar.style.left = ((s.start_unix_us - begin) * 100 / total) + "%";
			bar.style.width = (s.duration_us * 100 / total) + "%";
			bar.title = s.name + ": " + seconds(s.duration_us / 1e6);
			track.appendChild(bar);
			row.append(label, where, track, el("div", "dur", seconds(s.duration_us / 1e6)));
			out.push(row);
			if (s.message) {
				const msg = el("div", "span-msg", s.message);
				msg.style.paddingLeft = (28 + depth * 18) + "px";
				out.push(msg);
			}
		}
		$("waterfall").replaceChildren(...out);
		mark("Trace", t0);
	}

	// ---- rates -----------------------------------------------------------

	async function showRates() {
		const t0 = performance.now();
		const d = await getJSON("/api/rates");
		const rows = d.tasks.map((r) => {
			const tr = el("tr");
			const dur = r.duration_seconds;
			tr.append(td(r.name), td(r.completed_per_minute.toFixed(1), "num"),
				td(r.failed_per_minute.toFixed(1), "num"), td(r.retried_per_minute.toFixed(1), "num"),
				td(r.completed, "num"), td(r.failed, "num"), td(seconds(dur.p50), "num"),
				td(seconds(dur.p95), "num"), td(seconds(dur.p99), "num"));
			return tr;
		});
		replaceRows($("rates-body"), rows, "no task finished yet", 9);
		$("rates-summary").textContent = "Per minute over the last " +
			Math.round(d.window_seconds) + " s; percentiles of task.duration since the agent started.";
		mark("Rates", t0);
	}

	// ---- agent health ----------------------------------------------------

	function badge(h) {
		const b = $("health-badge");
		b.textContent = h.status;
		b.className = "badge " + h.status;
	}

	async function showAgent() {
		const t0 = performance.now();
		const h = await getJSON("/health");
		const tr = await getJSON("/api/traces?limit=1");
		badge(h);
		$("agent-status").textContent = h.status === "ok" ? "Healthy." :
			"Degraded: " + h.reasons.join("; ") + ".";
		const facts = [
			["Probes attached", h.probes_attached],
			["Export", h.exporter],
			["Export queue", h.queue_size + " spans"],
			["Spool", (h.spool_bytes / 1048576).toFixed(2) + " MiB"],
			["Events lost", h.events_lost],
			["Spans dropped", h.spans_dropped],
			["Open spans", h.open_spans],
			["Tasks stuck", h.stuck_tasks],
			["Recent traces", tr.kept + " of " + tr.capacity + ", " + (tr.bytes / 1048576).toFixed(2) + " MiB"],
		];
		if (h.events_per_second !== undefined) facts.push(["Events per second", h.events_per_second]);
		if (h.uptime_seconds !== undefined) facts.push(["Up", seconds(h.uptime_seconds)]);
		const dl = [];
		for (const [k, v] of facts) dl.push(el("dt", null, k), el("dd", null, v));
		$("agent-facts").replaceChildren(...dl);
		const attached = new Map();
		for (const a of h.attachments || []) attached.set(a.spec, (attached.get(a.spec) || 0) + 1);
		const rows = (h.specs || []).map((s) => {
			const r = el("tr");
			r.append(td(s.file, "mono"), td(s.ok ? "in use" : "not used"), td(s.hooks === undefined ? "–" : s.hooks, "num"),
				td(attached.get(s.file) || 0, "num"), td(s.error || s.reload_error || ""));
			return r;
		});
		replaceRows($("specs-body"), rows, "no spec", 5);
		mark("Agent", t0);
	}

	// ---- navigation and refresh ------------------------------------------

	const show = { tasks: showTasks, traces: showTraces, rates: showRates, agent: showAgent };

	function parseHash() {
		const h = location.hash.replace(/^#\/?/, "");
		const m = /^trace\/([0-9a-f]{32})$/.exec(h);
		if (m) return { view: "trace", id: m[1] };
		return { view: show[h] ? h : "tasks", id: null };
	}

	async function refresh() {
		clearTimeout(timer);
		const r = route;
		const gen = ++generation;
		try {
			if (r.view === "trace") await showTrace(r.id);
			else await show[r.view]();
			if (r.view !== "agent") badge(await getJSON("/health"));
			$("live").textContent = "live · " + new Date().toLocaleTimeString();
			$("live").className = "live";
		} catch (e) {
			$("live").textContent = "cannot reach the agent: " + e.message;
			$("live").className = "live down";
		}
		// a finished trace does not change: no refresh for the waterfall
		if (gen === generation && REFRESH_MS[r.view]) timer = setTimeout(refresh, REFRESH_MS[r.view]);
	}

	function navigate() {
		route = parseHash();
		for (const v of views) $("view-" + v).hidden = v !== route.view;
		for (const a of document.querySelectorAll("nav a")) {
			const tab = a.id.slice(4);
			a.classList.toggle("active", tab === route.view || (tab === "traces" && route.view === "trace"));
		}
		refresh();
	}

	function init() {
		window.addEventListener("hashchange", navigate);
		$("filters").addEventListener("submit", (e) => e.preventDefault());
		for (const id of ["filter-name", "filter-status", "filter-service"])
			$(id).addEventListener("input", () => { if (route.view === "traces") refresh(); });
		navigate();
	}

	init();
})();
