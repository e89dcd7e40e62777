// The rb-ctl serve page: polls /api/rings and /api/rings/NAME once a
// second, works out rates from successive snapshots, and for the ring
// chosen plots its newest frame (/api/rings/NAME/frame) with uPlot.
// The spectrum is computed here, in the page (a radix-2 FFT of each
// channel with a Hann window), so the server only ever copies a frame.
"use strict";

const POLL_MS = 1000;
// Rates are over the last few polls, so one late answer does not swing them.
const RATE_WINDOW = 5;
const FRAME_MS = 500;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf",
		"#8c564b", "#e377c2"];

let updates = 0;
// ring name -> the last RATE_WINDOW snapshots, oldest first:
// [{t, write_seq, frames: Map(consumer key -> frames)}]
const history = new Map();
let chosen = "";
let sampleRate = 0;         // of the chosen ring's stream header, 0 if unknown
let plots = null;           // {key, line, spectrum, canvas}
let frameBusy = false;

function el(tag, attrs, text) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {}))
		e.setAttribute(k, v);
	if (text !== undefined)
		e.textContent = text;
	return e;
}

function fmtRate(r) {
	if (r === null || !isFinite(r))
		return "–";
	if (r >= 1e6)
		return (r / 1e6).toFixed(2) + " M/s";
	if (r >= 1e4)
		return (r / 1e3).toFixed(1) + " k/s";
	return r.toFixed(1) + " /s";
}

// A cell with the shown text and the raw value for whoever reads the DOM.
function cell(key, value, text, cls) {
	const td = el("td", {"data-k": key, "data-v": String(value)},
		      text === undefined ? String(value) : text);
	if (cls)
		td.className = cls;
	return td;
}

async function getJson(url) {
	const r = await fetch(url, {cache: "no-store"});
	if (!r.ok)
		throw new Error(url + ": HTTP " + r.status);
	return r.json();
}

// How full the ring is for the producer: the largest lag of what can hold
// it back (a lossless consumer in no group, a lossless group).
function fillOf(info) {
	let lag = 0;
	for (const c of info.consumers)
		if (c.mode === "lossless" && c.group === null)
			lag = Math.max(lag, c.lag);
	for (const g of info.groups)
		if (g.mode === "lossless")
			lag = Math.max(lag, g.lag);
	return Math.min(1, lag / info.slot_count);
}

function ringRow(info, now, prev) {
	const p = info.producer;
	const dt = prev ? (now - prev.t) / 1000 : 0;
	// A ring made anew under the same name starts again from its first seq.
	const rate = prev && dt > 0 && p.write_seq >= prev.write_seq
		? (p.write_seq - prev.write_seq) / dt : null;
	const fill = fillOf(info);
	const tr = el("tr", {"data-ring": info.name});
	tr.appendChild(cell("name", info.name, undefined, "text"));
	tr.appendChild(cell("frame_type", info.frame_type, undefined, "text"));
	tr.appendChild(cell("slot_count", info.slot_count));
	const f = cell("fill", fill.toFixed(3), "");
	const bar = el("span", {"class": "bar" + (fill >= 0.9 ? " full" : "")});
	const inner = el("span");
	inner.style.width = (fill * 100).toFixed(1) + "%";
	bar.appendChild(inner);
	f.appendChild(bar);
	f.appendChild(document.createTextNode((fill * 100).toFixed(0) + "%"));
	tr.appendChild(f);
	tr.appendChild(cell("write_rate", rate === null ? "" : rate.toFixed(3), fmtRate(rate)));
	tr.appendChild(cell("write_seq", p.write_seq));
	tr.appendChild(cell("frames_dropped", p.frames_dropped));
	const who = p.producers_attached > 1 ? p.producers_alive + "/" + p.producers_attached + " alive"
		: p.pid === null ? "none" : "pid " + p.pid + (p.alive ? "" : " (dead)");
	tr.appendChild(cell("producer", p.alive ? "alive" : "dead", who,
			    "text" + (p.alive ? "" : " dead")));
	let blocked = "–";
	if (p.blocked)
		blocked = p.blocked_by !== null ? "consumer #" + p.blocked_by
			: p.blocked_by_group !== null ? "group " + p.blocked_by_group : "(just full)";
	tr.appendChild(cell("blocked_by", p.blocked ? blocked : "", blocked,
			    "text" + (p.blocked ? " blocked" : "")));
	return {tr, rate};
}

function consumerRows(info, now, prev, frames) {
	const rows = [];
	const p = info.producer;
	const dt = prev ? (now - prev.t) / 1000 : 0;
	for (const c of info.consumers) {
		const key = c.index + ":" + c.pid;
		frames.set(key, c.frames);
		const before = prev ? prev.frames.get(key) : undefined;
		const rate = before !== undefined && dt > 0 && c.frames >= before
			? (c.frames - before) / dt : null;
		const blocks = p.blocked && (p.blocked_by === c.index ||
			(c.group !== null && p.blocked_by_group === c.group));
		const tr = el("tr", {"data-ring": info.name, "data-index": String(c.index)});
		tr.appendChild(cell("ring", info.name, undefined, "text"));
		tr.appendChild(cell("index", c.index));
		tr.appendChild(cell("label", c.label, undefined, "text"));
		tr.appendChild(cell("mode", c.mode, undefined, "text"));
		tr.appendChild(cell("group", c.group === null ? "" : c.group,
				    c.group === null ? "–" : c.group, "text"));
		tr.appendChild(cell("state", c.state, undefined, "text" + (c.alive ? "" : " dead")));
		tr.appendChild(cell("rate", rate === null ? "" : rate.toFixed(3), fmtRate(rate)));
		tr.appendChild(cell("lag", c.lag));
		tr.appendChild(cell("lost", c.lost));
		tr.appendChild(cell("blocks", blocks ? "producer" : "",
				    blocks ? "the producer" : "–", "text" + (blocks ? " blocked" : "")));
		rows.push(tr);
	}
	return rows;
}

async function poll() {
	const status = document.getElementById("status");
	try {
		const list = await getJson("/api/rings");
		const names = list.rings.filter(r => r.ok).map(r => r.name);
		const infos = await Promise.all(names.map(n =>
			getJson("/api/rings/" + encodeURIComponent(n)).catch(() => null)));
		const now = performance.now();
		const ringBody = document.querySelector("#rings tbody");
		const consBody = document.querySelector("#consumers tbody");
		const ringRows = [], consRows = [];
		const seen = new Set();
		for (const info of infos) {
			if (info === null)
				continue;
			seen.add(info.name);
			const past = history.get(info.name) || [];
			const prev = past.length > 0 ? past[0] : undefined;
			const frames = new Map();
			ringRows.push(ringRow(info, now, prev).tr);
			consRows.push(...consumerRows(info, now, prev, frames));
			past.push({t: now, write_seq: info.producer.write_seq, frames});
			if (past.length > RATE_WINDOW)
				past.shift();
			history.set(info.name, past);
			if (info.name === chosen) {
				const m = /(?:^|\n)sample_rate=([0-9.e+]+)/.exec(info.stream_header.text || "");
				sampleRate = m ? Number(m[1]) : 0;
			}
		}
		for (const n of [...history.keys()])
			if (!seen.has(n))
				history.delete(n);
		ringBody.replaceChildren(...ringRows);
		consBody.replaceChildren(...consRows);
		updateSelect([...seen]);
		updates++;
		status.dataset.updates = String(updates);
		status.textContent = seen.size + " ring" + (seen.size === 1 ? "" : "s") +
			", updated " + new Date().toLocaleTimeString();
	} catch (e) {
		status.textContent = "error: " + e.message;
	}
}

function updateSelect(names) {
	const sel = document.getElementById("ring-select");
	const have = [...sel.options].map(o => o.value).filter(v => v !== "");
	if (have.join("\n") === names.join("\n"))
		return;
	sel.replaceChildren(el("option", {value: ""}, "(choose a ring)"),
			    ...names.map(n => el("option", {value: n}, n)));
	sel.value = names.includes(chosen) ? chosen : "";
}

// ---- the data view ----------------------------------------------------------

const ELEMS = {
	u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, u64: BigUint64Array,
	i8: Int8Array, i16: Int16Array, i32: Int32Array, i64: BigInt64Array,
	f32: Float32Array, f64: Float64Array, bytes: Uint8Array,
};

function decode(buf, elem) {
	const T = ELEMS[elem];
	if (T === undefined)
		return null;
	const n = Math.floor(buf.byteLength / T.BYTES_PER_ELEMENT);
	const a = new T(buf, 0, n);
	return (T === BigUint64Array || T === BigInt64Array) ? Float64Array.from(a, Number) : a;
}

// In-place radix-2 FFT (re, im of length 2^k).
function fft(re, im) {
	const n = re.length;
	for (let i = 1, j = 0; i < n; i++) {
		let bit = n >> 1;
		for (; j & bit; bit >>= 1)
			j ^= bit;
		j ^= bit;
		if (i < j) {
			[re[i], re[j]] = [re[j], re[i]];
			[im[i], im[j]] = [im[j], im[i]];
		}
	}
	for (let len = 2; len <= n; len <<= 1) {
		const ang = -2 * Math.PI / len;
		for (let i = 0; i < n; i += len) {
			for (let k = 0; k < len / 2; k++) {
				const wr = Math.cos(ang * k), wi = Math.sin(ang * k);
				const ar = re[i + k + len / 2], ai = im[i + k + len / 2];
				const xr = ar * wr - ai * wi, xi = ar * wi + ai * wr;
				re[i + k + len / 2] = re[i + k] - xr;
				im[i + k + len / 2] = im[i + k] - xi;
				re[i + k] += xr;
				im[i + k] += xi;
			}
		}
	}
}

// Magnitude in dB (relative to full scale of the samples given) of bins 1..n/2.
function spectrum(samples) {
	let n = 1;
	while (n * 2 <= samples.length && n < 65536)
		n *= 2;
	const re = new Float64Array(n), im = new Float64Array(n);
	let mean = 0;
	for (let i = 0; i < n; i++)
		mean += samples[i];
	mean /= n;
	for (let i = 0; i < n; i++)
		re[i] = (samples[i] - mean) * (0.5 - 0.5 * Math.cos(2 * Math.PI * i / (n - 1)));
	fft(re, im);
	const out = new Float64Array(n / 2);
	for (let k = 1; k <= n / 2; k++)
		out[k - 1] = 20 * Math.log10(Math.hypot(re[k], im[k]) * 4 / n + 1e-12);
	return {n, db: out};
}

function layoutOf(elem, shape) {
	const integer = /^[ui]/.test(elem);
	if (shape.length === 2 && integer && shape[0] > 16 && shape[1] > 16)
		return {kind: "image", rows: shape[0], cols: shape[1]};
	if (shape.length === 1)
		return {kind: "line", samples: shape[0], channels: 1};
	if (shape.length === 2)
		return {kind: "line", samples: shape[0], channels: shape[1]};
	return {kind: "line", samples: 0, channels: 1}; // bytes: filled in per frame
}

function lineOpts(title, channels, xlabel, ylabel, logx) {
	const series = [{label: xlabel}];
	for (let c = 0; c < channels; c++)
		series.push({label: "ch" + c, stroke: COLORS[c % COLORS.length], width: 1,
			     points: {show: false}});
	return {
		title, width: 560, height: 260, series,
		scales: {x: logx ? {time: false, distr: 3} : {time: false}},
		axes: [{label: xlabel}, {label: ylabel}],
		legend: {live: false},
	};
}

function showImage(a, lay) {
	const max = 640;
	if (!plots.canvas) {
		const div = el("div", {"class": "plot", id: "plot-image"});
		div.appendChild(el("h3", {}, "newest frame (" + lay.rows + "×" + lay.cols + ")"));
		plots.canvas = el("canvas", {"class": "image", width: String(lay.cols),
					      height: String(lay.rows)});
		plots.canvas.style.width = Math.min(max, lay.cols) + "px";
		div.appendChild(plots.canvas);
		document.getElementById("plots").appendChild(div);
	}
	let lo = Infinity, hi = -Infinity;
	const n = lay.rows * lay.cols;
	for (let i = 0; i < n && i < a.length; i++) {
		if (a[i] < lo) lo = a[i];
		if (a[i] > hi) hi = a[i];
	}
	const scale = hi > lo ? 255 / (hi - lo) : 0;
	const ctx = plots.canvas.getContext("2d");
	const img = ctx.createImageData(lay.cols, lay.rows);
	for (let i = 0; i < n && i < a.length; i++) {
		const v = (a[i] - lo) * scale;
		img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
		img.data[4 * i + 3] = 255;
	}
	ctx.putImageData(img, 0, 0);
}

function showLines(a, lay) {
	const samples = lay.samples || a.length;
	const ch = lay.channels;
	const x = Float64Array.from({length: samples}, (_, i) => i);
	const ys = [];
	for (let c = 0; c < ch; c++) {
		const y = new Float64Array(samples);
		for (let i = 0; i < samples; i++)
			y[i] = a[i * ch + c];
		ys.push(y);
	}
	const box = document.getElementById("plots");
	if (!plots.line) {
		const d1 = el("div", {"class": "plot", id: "plot-line"});
		box.appendChild(d1);
		plots.line = new uPlot(lineOpts("newest frame, each channel", ch, "sample", "value", false),
				       [x, ...ys], d1);
	} else {
		plots.line.setData([x, ...ys]);
	}
	if (samples < 4)
		return;
	const specs = ys.map(spectrum);
	const n = specs[0].n;
	const hz = sampleRate > 0 ? sampleRate / n : 1 / n;
	const f = Float64Array.from({length: n / 2}, (_, k) => (k + 1) * hz);
	const data = [f, ...specs.map(s => s.db)];
	if (!plots.spectrum) {
		const d2 = el("div", {"class": "plot", id: "plot-spectrum"});
		box.appendChild(d2);
		plots.spectrum = new uPlot(lineOpts("spectrum (FFT in the page, Hann window)", ch,
						    sampleRate > 0 ? "Hz" : "cycles/sample", "dB", true),
					   data, d2);
	} else {
		plots.spectrum.setData(data);
	}
}

async function pollFrame() {
	if (chosen === "" || frameBusy)
		return;
	frameBusy = true;
	const info = document.getElementById("frame-info");
	try {
		const r = await fetch("/api/rings/" + encodeURIComponent(chosen) + "/frame",
				      {cache: "no-store"});
		if (!r.ok) {
			info.textContent = (await r.json().catch(() => ({error: "HTTP " + r.status}))).error;
			return;
		}
		const elem = r.headers.get("X-Ring-Elem");
		const shapeText = r.headers.get("X-Ring-Shape") || "";
		const shape = shapeText === "" ? [] : shapeText.split(",").map(Number);
		const seq = r.headers.get("X-Ring-Seq");
		const a = decode(await r.arrayBuffer(), elem);
		if (a === null) {
			info.textContent = "frames of " + elem + " are not plotted";
			return;
		}
		const lay = layoutOf(elem, shape);
		const key = chosen + "|" + elem + "|" + shapeText + "|" + sampleRate;
		if (!plots || plots.key !== key) {
			document.getElementById("plots").replaceChildren();
			plots = {key, line: null, spectrum: null, canvas: null};
		}
		if (lay.kind === "image")
			showImage(a, lay);
		else
			showLines(a, lay);
		info.dataset.seq = seq;
		info.textContent = "frame " + seq + " · " + elem + "[" + shape.join(",") + "]";
	} catch (e) {
		info.textContent = "error: " + e.message;
	} finally {
		frameBusy = false;
	}
}

document.getElementById("ring-select").addEventListener("change", e => {
	chosen = e.target.value;
	location.hash = chosen ? "ring=" + encodeURIComponent(chosen) : "";
	plots = null;
	document.getElementById("plots").replaceChildren();
	document.getElementById("frame-info").textContent = "";
	poll().then(pollFrame);
});

// #ring=NAME chooses a ring from the address (and so from a test).
const hash = /ring=([^&]+)/.exec(location.hash);
if (hash)
	chosen = decodeURIComponent(hash[1]);
poll().then(pollFrame);
setInterval(poll, POLL_MS);
setInterval(pollFrame, FRAME_MS);
