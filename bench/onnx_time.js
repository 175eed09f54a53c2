// Times one ONNX model in ONNX Runtime (npm onnxruntime-node) at one input shape: prints
// one JSON line {"ms_per_step": mean over the timed runs}. Used by bench/compare_onnx.py.
//   node bench/onnx_time.js MODEL.onnx T B I THREADS ITERATIONS WARMUP [ORT_MODULE_DIR]
const [model, T, B, I, threads, iters, warmup, dir] = process.argv.slice(2);
const ort = require(dir ? require('path').join(dir, 'onnxruntime-node') : 'onnxruntime-node');
(async () => {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: 'all'});
  const n = Number(T) * Number(B) * Number(I), data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1;
  const feeds = {x: new ort.Tensor('float32', data, [Number(T), Number(B), Number(I)])};
  for (let i = 0; i < Number(warmup); i++) await session.run(feeds);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < Number(iters); i++) await session.run(feeds);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / Number(iters);
  console.log(JSON.stringify({ms_per_step: ms}));
})().catch(e => { console.error('onnx_time: ' + e.message); process.exit(1); });
