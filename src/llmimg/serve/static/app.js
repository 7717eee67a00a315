// The live page: images follow the prompt as the user types. Every image is a plain GET /generate?prompt&seed
// (cacheable: an image depends only on model, prompt and seed), so the server batches a page's requests together.
"use strict";

const DEBOUNCE_MS = 120;
const $ = (id) => document.getElementById(id);
const prompt = $("prompt"), seed = $("seed"), count = $("count"), grid = $("images"), status = $("status");
const promptB = $("prompt-b"), slider = $("slider"), frame = $("frame"), frameLink = $("frame-link");

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 48) || "prompt";
}

function clampInt(input, low, high) {
  const value = Math.min(high, Math.max(low, parseInt(input.value, 10) || low));
  input.value = value;
  return value;
}

function setStatus(text, isError = false) {
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function drawImages() {
  const text = prompt.value.trim();
  if (!text) { setStatus("type a prompt"); return; }
  const first = clampInt(seed, 0, 4294967295), n = clampInt(count, 1, 16);
  const started = performance.now();
  let pending = n;
  // reuse the <img> elements so that the grid does not flicker while typing
  while (grid.children.length > n) grid.lastChild.remove();
  while (grid.children.length < n) {
    const figure = document.createElement("figure");
    figure.innerHTML = "<a><img alt=''></a><figcaption></figcaption>";
    grid.appendChild(figure);
  }
  [...grid.children].forEach((figure, k) => {
    const s = (first + k) % 4294967296;  // wraps past 2**32 - 1, as the server does (image k: seed + k)
    const url = `/generate?prompt=${encodeURIComponent(text)}&seed=${s}`;
    const link = figure.querySelector("a"), img = figure.querySelector("img");
    link.href = url;
    link.download = `llmimg_${slug(text)}_s${s}.png`;
    img.alt = `${text} (seed ${s})`;
    figure.querySelector("figcaption").textContent = `seed ${s}`;
    const done = (ok) => {
      pending -= 1;
      if (!ok) setStatus("the server refused a request (see /health)", true);
      else if (pending === 0) setStatus(`${n} images in ${Math.round(performance.now() - started)} ms`);
    };
    img.onload = () => done(true);
    img.onerror = () => done(false);
    img.src = url;
  });
}

function drawFrame() {
  const a = prompt.value.trim(), b = promptB.value.trim();
  const t = (parseInt(slider.value, 10) / 100).toFixed(2);
  $("slider-value").textContent = `t = ${t}`;
  if (!a || !b) return;
  const url = `/interpolate?prompt_a=${encodeURIComponent(a)}&prompt_b=${encodeURIComponent(b)}` +
    `&t=${t}&seed=${clampInt(seed, 0, 4294967295)}`;
  frame.src = url;
  frame.alt = `between "${a}" and "${b}" at t = ${t}`;
  frameLink.href = url;
  frameLink.download = `llmimg_${slug(a)}_to_${slug(b)}_t${t}.png`;
}

const redraw = debounce(() => { drawImages(); drawFrame(); }, DEBOUNCE_MS);
prompt.addEventListener("input", redraw);
seed.addEventListener("input", redraw);
count.addEventListener("input", redraw);
promptB.addEventListener("input", debounce(drawFrame, DEBOUNCE_MS));
slider.addEventListener("input", drawFrame);  // frames are cached and cheap: follow the slider directly
$("new-seeds").addEventListener("click", () => {
  seed.value = Math.floor(Math.random() * 1e6);
  drawImages();
  drawFrame();
});

fetch("/health").then((r) => r.json()).then((health) => {
  document.title = `llmimg · ${health.model}`;
  setStatus(`model ${health.model}, ${health.resolution}x${health.resolution}`);
}).catch(() => setStatus("server unreachable", true));
drawImages();
drawFrame();
