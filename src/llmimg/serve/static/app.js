// The live page: images follow the prompt as the user types. Every image is a plain GET /generate?prompt&seed
// (cacheable: an image depends only on model, prompt and seed), so the server batches a page's requests together.
// A dropped or picked picture is edited as the user types: POST /v1/images/edits with the file and the words, the
// previous request cancelled when a newer one starts.
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

const EDITS = 4;
const drop = $("drop"), sourceFile = $("source-file"), sourceImage = $("source"), edits = $("edits");
const editPrompt = $("edit-prompt"), sourcePrompt = $("source-prompt"), strength = $("strength");
let picture = null, editing = null;  // the File being edited; the AbortController of the request in flight

function pick(file) {
  if (!file) return;
  picture = file;
  URL.revokeObjectURL(sourceImage.src);
  sourceImage.src = URL.createObjectURL(file);
  sourceImage.alt = `the picture to edit: ${file.name}`;
  sourceImage.hidden = false;
  $("drop-text").hidden = true;
  drawEdits();
}

async function drawEdits() {
  const s = (parseInt(strength.value, 10) / 100).toFixed(2);
  $("strength-value").textContent = s;
  const text = editPrompt.value.trim();
  if (!picture || !text) return;
  if (editing) editing.abort();
  editing = new AbortController();
  const form = new FormData();
  form.append("image", picture, picture.name);
  form.append("prompt", text);
  if (sourcePrompt.value.trim()) form.append("source_prompt", sourcePrompt.value.trim());
  form.append("n", String(EDITS));
  form.append("seed", String(clampInt(seed, 0, 4294967295)));
  form.append("strength", s);
  form.append("response_format", "b64_json");
  const started = performance.now();
  try {
    const response = await fetch("/v1/images/edits", {method: "POST", body: form, signal: editing.signal});
    const body = await response.json();
    if (!response.ok) { setStatus(`edit refused: ${body.error ? body.error.message : response.status}`, true); return; }
    while (edits.children.length > body.data.length) edits.lastChild.remove();
    while (edits.children.length < body.data.length) {
      const figure = document.createElement("figure");
      figure.innerHTML = "<a><img alt=''></a><figcaption></figcaption>";
      edits.appendChild(figure);
    }
    body.data.forEach((item, k) => {
      const figure = edits.children[k], url = `data:image/png;base64,${item.b64_json}`;
      figure.querySelector("img").src = url;
      figure.querySelector("img").alt = `${text}, edited from ${picture.name} (seed ${item.seed})`;
      figure.querySelector("a").href = url;
      figure.querySelector("a").download = `llmimg_edit_${slug(text)}_s${item.seed}.png`;
      figure.querySelector("figcaption").textContent = `seed ${item.seed}`;
    });
    setStatus(`${body.data.length} edits in ${Math.round(performance.now() - started)} ms`);
  } catch (error) {
    if (error.name !== "AbortError") setStatus(`edit failed: ${error.message}`, true);
  }
}

sourceFile.addEventListener("change", () => pick(sourceFile.files[0]));
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  pick(event.dataTransfer.files[0]);
});
const redrawEdits = debounce(drawEdits, DEBOUNCE_MS);
editPrompt.addEventListener("input", redrawEdits);
sourcePrompt.addEventListener("input", redrawEdits);
strength.addEventListener("input", redrawEdits);
seed.addEventListener("input", redrawEdits);  // edit k uses seed + k, as image k does

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
  drawEdits();
});

fetch("/health").then((r) => r.json()).then((health) => {
  document.title = `llmimg · ${health.model}`;
  setStatus(`model ${health.model}, ${health.resolution}x${health.resolution}`);
  if (!health.edits) {  // no image encoder: say so where the drop zone would be
    $("edit-section").querySelectorAll("input").forEach((input) => { input.disabled = true; });
    $("drop-text").textContent = `model ${health.model} has no image encoder: train one with llmimg train --invert`;
  }
}).catch(() => setStatus("server unreachable", true));
drawImages();
drawFrame();
