// The peer: sharp (Node.js, libvips), run by the benchmark in its own Node process.
//
// `node benchmarks/sharp_worker.mjs serve`: reads one JSON request per line on stdin, answers one JSON line
// on stdout. `node benchmarks/sharp_worker.mjs probe FILE WARMUP MODE SIZES`: peak RSS of one render in a
// fresh process (baseline after a warm-up render of WARMUP, a 64x48 image of the same kind).
//
// Two ways to make several sizes:
//   firebase: what Firebase's Resize Images extension does, one full pipeline per size from the original
//             bytes: sharp(bytes, {failOn: "none"}).rotate().resize(w, h, {fit: "inside",
//             withoutEnlargement: true}).jpeg({quality}).toBuffer()
//   best:     one decode (shrink-on-load to the largest size, upright, held raw in memory), then clone()
//             of that image per size, each resized and encoded.
// The caller sets UV_THREADPOOL_SIZE=1; sharp.concurrency(1) below: one thread, like the Python side.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import sharp from "sharp";

sharp.concurrency(1);
sharp.cache(false); // every request has new bytes in a function: a cache would only keep old ones alive

async function firebase(bytes, sizes, quality) {
  const outputs = [];
  for (const size of sizes) {
    outputs.push(
      await sharp(bytes, { failOn: "none" })
        .rotate()
        .resize(size, size, { fit: "inside", withoutEnlargement: true })
        .jpeg({ quality })
        .toBuffer(),
    );
  }
  return outputs;
}

async function best(bytes, sizes, quality) {
  const largest = Math.max(...sizes);
  const { data, info } = await sharp(bytes, { failOn: "none" })
    .rotate()
    .resize(largest, largest, { fit: "inside", withoutEnlargement: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const decoded = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
  const outputs = [];
  for (const size of sizes) {
    let pipeline = decoded.clone();
    if (size !== largest) pipeline = pipeline.resize(size, size, { fit: "inside", withoutEnlargement: true });
    if (info.channels === 4 || info.channels === 2) pipeline = pipeline.flatten({ background: "#ffffff" });
    outputs.push(await pipeline.jpeg({ quality }).toBuffer());
  }
  return outputs;
}

const MODES = { firebase, best };

async function render(request) {
  const bytes = request.bytes ?? readFileSync(request.file);
  const wall = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const outputs = await MODES[request.mode](bytes, request.sizes, request.quality);
  const used = process.cpuUsage(cpu);
  return {
    wall_s: Number(process.hrtime.bigint() - wall) / 1e9,
    cpu_s: (used.user + used.system) / 1e6,
    outputs: outputs.map((buffer) => buffer.toString("base64")),
  };
}

async function serve() {
  const cache = new Map(); // file -> bytes, read once: the timing is of the render from bytes in memory
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const request = JSON.parse(line);
    let answer;
    try {
      if (request.op === "version") {
        answer = { sharp: sharp.versions.sharp, libvips: sharp.versions.vips, node: process.versions.node,
                   heif_input: sharp.format.heif.input.fileSuffix ?? [] };
      } else {
        if (!cache.has(request.file)) cache.set(request.file, readFileSync(request.file));
        answer = await render({ ...request, bytes: cache.get(request.file) });
      }
    } catch (error) {
      answer = { error: String(error.message ?? error).split("\n")[0] };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  }
}

async function probe([file, warmup, mode, sizes, quality]) {
  const wanted = sizes.split(",").map(Number);
  await render({ file: warmup, mode, sizes: wanted, quality: Number(quality) });
  const baseline = process.resourceUsage().maxRSS / 1024;
  const bytes = readFileSync(file);
  await render({ bytes, mode, sizes: wanted, quality: Number(quality) });
  const peak = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(JSON.stringify({ baseline_mb: baseline, peak_mb: peak }) + "\n");
}

const [command, ...rest] = process.argv.slice(2);
if (command === "serve") await serve();
else if (command === "probe") await probe(rest);
else {
  process.stderr.write("usage: sharp_worker.mjs serve | probe FILE WARMUP MODE SIZES QUALITY\n");
  process.exit(2);
}
