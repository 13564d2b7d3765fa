// Workers as ES modules: the runtime's worker imports onnxruntime-web lazily (a code-split chunk), which Vite's
// default worker format (iife) cannot hold.
export default { worker: { format: 'es' } };
