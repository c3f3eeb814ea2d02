// Drives the official @huggingface/hub client (pinned in package.json) against a running simulator and
// prints what it observed as JSON on stdout; tests/test_conformance.py checks it against manifest.json.
// Env: HF_ENDPOINT, HUBSIM_TOKEN.
import { createHash } from "node:crypto";
import {
  downloadFile,
  fileDownloadInfo,
  fileExists,
  listFiles,
  modelInfo,
  pathsInfo,
} from "@huggingface/hub";

const hubUrl = process.env.HF_ENDPOINT;
const token = process.env.HUBSIM_TOKEN;
const repo = "hffs-test/tiny-model";
const LFS = "model-00001-of-00002.safetensors";
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const out = {};

async function collect(params) {
  const items = [];
  for await (const e of listFiles({ hubUrl, ...params })) items.push(e);
  return items;
}

async function attempt(fn) {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    return { ok: false, status: e.statusCode ?? null, name: e.name, message: String(e.message) };
  }
}

// 1. listFiles: recursive at main and at a tag, a subfolder, and the 10,000-file dataset (pagination)
out.list_main = await collect({ repo, recursive: true });
out.list_v1 = await collect({ repo, recursive: true, revision: "v1.0" });
out.list_sub = await collect({ repo, path: "a/b" });
out.list_dataset = (await collect({ repo: { type: "dataset", name: "hffs-test/many-files" }, recursive: true })).map(
  (e) => [e.type, e.path, e.size],
);

// 2. fileDownloadInfo: LFS, regular, missing, and a name that needs encoding (the client inserts the path raw)
out.info_lfs = await fileDownloadInfo({ repo, path: LFS, hubUrl });
out.info_regular = await fileDownloadInfo({ repo, path: "config.json", hubUrl });
out.info_missing = await fileDownloadInfo({ repo, path: "no/such/file.txt", hubUrl });
out.info_weird = await fileDownloadInfo({ repo, path: "weird/" + encodeURIComponent("名前 #1?%+.txt"), hubUrl });
out.info_pr = await fileDownloadInfo({ repo, path: "config.json", revision: "refs/pr/1", hubUrl });

// 3. downloadFile: whole LFS file, ranges of it, a regular file
const blob = await downloadFile({ repo, path: LFS, hubUrl });
out.download_lfs = { size: blob.size, sha256: sha256(Buffer.from(await blob.arrayBuffer())) };
const ranges = [
  [0, 8],
  [1000, 1048576 + 1000],
  [blob.size - 4096, blob.size],
];
out.download_ranges = [];
for (const [a, b] of ranges) {
  const buf = Buffer.from(await blob.slice(a, b).arrayBuffer());
  out.download_ranges.push({ start: a, end: b, length: buf.length, sha256: sha256(buf) });
}
const cfg = await downloadFile({ repo, path: "config.json", hubUrl });
out.download_regular = { size: cfg.size, sha256: sha256(Buffer.from(await cfg.arrayBuffer())) };
const v1 = await downloadFile({ repo, path: "config.json", revision: "v1.0", hubUrl });
out.download_regular_v1 = { sha256: sha256(Buffer.from(await v1.arrayBuffer())) };

// 4. access control as the client sees it
out.gated_anonymous = await attempt(() => fileDownloadInfo({ repo: "hffs-test/gated-model", path: "model.safetensors", hubUrl }));
out.gated_token = await attempt(async () => {
  const b = await downloadFile({ repo: "hffs-test/gated-model", path: "model.safetensors", hubUrl, accessToken: token });
  return sha256(Buffer.from(await b.arrayBuffer()));
});
out.private_anonymous = await attempt(() => collect({ repo: "hffs-test/private-model", recursive: true }));
out.private_token = await attempt(async () => {
  const b = await downloadFile({ repo: "hffs-test/private-model", path: "config.json", hubUrl, accessToken: token });
  return sha256(Buffer.from(await b.arrayBuffer()));
});
out.invalid_token = await attempt(() => collect({ repo, accessToken: "hf_invalid_token_for_conformance" }));

// 5. other read APIs hffs users touch
out.paths_info = await pathsInfo({ repo, paths: ["config.json", LFS, "missing.bin"], hubUrl });
out.model_info = await modelInfo({ name: repo, hubUrl, additionalFields: ["sha", "siblings"] });
out.file_exists = [
  await fileExists({ repo, path: "config.json", hubUrl }),
  await fileExists({ repo, path: "missing.bin", hubUrl }),
];

process.stdout.write(JSON.stringify(out));
