// Times one ONNX model in ONNX Runtime (npm onnxruntime-node) at one input shape: prints
// one JSON line {"ms_per_step": mean over the timed runs}. Used by bench/compare_onnx.py.
//   node bench/onnx_time.js MODEL.onnx T B I THREADS ITERATIONS WARMUP ORT_MODULE_DIR
//        [stream LAYERS H]
// With `stream` the model takes x [1,B,I] and the state h0 (and c0 for an LSTM), each
// [LAYERS,B,H], and returns y, hn (and cn): each timed run feeds the T steps one call at a
// time from a zero state, every step's state the previous step's output, as a program that
// receives one frame at a time would; the time is that of the whole T-step stream.
const [model, T, B, I, threads, iters, warmup, dir, mode, L, H] = process.argv.slice(2);
const ort = require(dir ? require('path').join(dir, 'onnxruntime-node') : 'onnxruntime-node');
(async () => {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: 'all'});
  const nT = Number(T), nB = Number(B), nI = Number(I);
  const n = nT * nB * nI, data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1;
  let once;
  if (mode === 'stream') {
    const names = session.inputNames.filter(s => s !== 'x');          // h0 (and c0)
    const shape = [Number(L), nB, Number(H)];
    const zero = () => new ort.Tensor('float32', new Float32Array(shape[0] * nB * shape[2]),
                                      shape);
    once = async () => {
      const state = {};
      for (const s of names) state[s] = zero();
      for (let t = 0; t < nT; t++) {
        const feeds = {x: new ort.Tensor('float32', data.subarray(t * nB * nI, (t + 1) * nB * nI),
                                         [1, nB, nI]), ...state};
        const out = await session.run(feeds);
        for (const s of names) state[s] = out[s === 'h0' ? 'hn' : 'cn'];
      }
    };
  } else {
    const feeds = {x: new ort.Tensor('float32', data, [nT, nB, nI])};
    once = () => session.run(feeds);
  }
  for (let i = 0; i < Number(warmup); i++) await once();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < Number(iters); i++) await once();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / Number(iters);
  console.log(JSON.stringify({ms_per_step: ms}));
})().catch(e => { console.error('onnx_time: ' + e.message); process.exit(1); });
