// Upper bounds on everything that sizes the runtime's work or memory, from the caller (recommend()/score()/load()
// arguments) and from a bundle's manifest alike. Each is checked before anything is allocated for it: a value past
// its bound is an InvalidArgumentError (an argument) or a BundleFormatError (a manifest field) naming it and the bound.
// The bounds are far above what the shipped bundles use (beam 10–32, 20 history items, sessions of 2–5 items), and low
// enough that no single call can ask for gigabytes.

export const RUNTIME_LIMITS = {
  // recommend() / score() / load() arguments
  beamWidth: 512, // beams per decoder step: the rows of every decoder call and of the KV cache
  scoredSessions: 512, // sessions per score() call: decoder rows, like beams
  historyLength: 10_000, // entries of a caller's history (the encoder reads only the last maxHistory)
  threads: 64, // LoadOptions.threads: helper workers of the wasm kernels
  // manifest fields ("model", "generation"), and what a graph or the trie may declare
  sessionLength: 64, // items per session; decoder positions = sessionLength × (levels + 1)
  maxHistory: 4096, // items the encoder reads; its input is maxHistory × levels tokens
  levels: 16, // codes per item, the suffix level included
  codebookSize: 65_536, // K: codes are uint16 (runtime/semantic-id-trie.ts)
  dModel: 8192,
  heads: 256,
  encoderLayers: 256,
  decoderLayers: 256, // an ensemble stacks its members' layers here
  ffnDim: 65_536,
  experts: 256,
  expertFfnDim: 65_536,
  ensembleMembers: 16, // manifest.ensemble.members: seed models run side by side in one pair of graphs
} as const;
