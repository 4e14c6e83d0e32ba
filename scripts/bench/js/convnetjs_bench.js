#!/usr/bin/env node
// The ConvNetJS side of the benchmarks: times the real ConvNetJS 0.3.0 (npm
// package "convnetjs", installed by `npm ci`) and prints one JSON object.
//
// Usage: node scripts/bench/js/convnetjs_bench.js MODE [options]
//   make-snapshot --net NAME --out FILE [--seed N]
//        build NAME with net.makeLayers and write JSON.stringify(net.toJSON())
//        -> {bytes, parameters, seconds}
//   load --in FILE
//        time readFileSync + JSON.parse + net.fromJSON
//        -> {seconds, read_s, parse_s, from_json_s, peak_rss_bytes, rss_before_bytes}
//   write --in FILE --out FILE [--fsync 1]
//        load FILE, then time JSON.stringify(net.toJSON()) + writeFileSync
//        (+ fsync with --fsync 1) -> {seconds, stringify_s, peak_rss_bytes, rss_before_bytes}
//   train --net NAME --examples N --batch-size B [--warmup N] [--seed N]
//        time trainer.train(x, y) on N random examples, after a warm-up
//        -> {seconds, examples, examples_per_s}
//   forward --net NAME --examples N [--warmup N] [--seed N]
//        time net.forward(x, false) on N random examples -> same fields as train
//   layer-defs --net NAME
//        -> {layer_defs, trainer}: the definitions the other modes build
//
// Every timed result also has cpu_s, the CPU time of the timed part (user +
// system), which other processes on a busy machine disturb less than the
// wall-clock seconds.
// NAME is one of the networks in NETWORKS below. Inputs are uniform random
// numbers in [0, 1) from a seeded generator, and labels are random classes:
// ConvNetJS's loops do the same work whatever the values.
'use strict';

const fs = require('fs');
const path = require('path');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

function requireConvnetjs() {
  let resolved;
  try {
    resolved = require.resolve('convnetjs', { paths: [REPO_ROOT] });
  } catch (err) {
    throw new Error('convnetjs is not installed in ' + path.join(REPO_ROOT, 'node_modules') +
                    '; run `npm ci` in the repository root');
  }
  return require(resolved);
}

const convnetjs = requireConvnetjs();

// The networks the benchmarks use. cifar10 and mnist are the default networks
// and trainers of ConvNetJS's CIFAR-10 and MNIST browser demos (demo/cifar10.html
// and demo/mnist.html in the karpathy/convnetjs GitHub repository). fc_big and
// wide_conv exist to make large snapshot files.
const NETWORKS = {
  cifar10: {
    layerDefs: [
      { type: 'input', out_sx: 32, out_sy: 32, out_depth: 3 },
      { type: 'conv', sx: 5, filters: 16, stride: 1, pad: 2, activation: 'relu' },
      { type: 'pool', sx: 2, stride: 2 },
      { type: 'conv', sx: 5, filters: 20, stride: 1, pad: 2, activation: 'relu' },
      { type: 'pool', sx: 2, stride: 2 },
      { type: 'conv', sx: 5, filters: 20, stride: 1, pad: 2, activation: 'relu' },
      { type: 'pool', sx: 2, stride: 2 },
      { type: 'softmax', num_classes: 10 },
    ],
    trainer: { method: 'adadelta', batch_size: 4, l2_decay: 0.0001 },
    classes: 10,
  },
  mnist: {
    layerDefs: [
      { type: 'input', out_sx: 24, out_sy: 24, out_depth: 1 },
      { type: 'conv', sx: 5, filters: 8, stride: 1, pad: 2, activation: 'relu' },
      { type: 'pool', sx: 2, stride: 2 },
      { type: 'conv', sx: 5, filters: 16, stride: 1, pad: 2, activation: 'relu' },
      { type: 'pool', sx: 3, stride: 3 },
      { type: 'softmax', num_classes: 10 },
    ],
    trainer: { method: 'adadelta', batch_size: 20, l2_decay: 0.001 },
    classes: 10,
  },
  // About 5.8 million weights: a 160 MB snapshot in ConvNetJS's object form.
  fc_big: {
    layerDefs: [
      { type: 'input', out_sx: 1, out_sy: 1, out_depth: 784 },
      { type: 'fc', num_neurons: 2048, activation: 'relu' },
      { type: 'fc', num_neurons: 2048, activation: 'relu' },
      { type: 'softmax', num_classes: 10 },
    ],
    trainer: { method: 'adadelta', batch_size: 20 },
    classes: 10,
  },
  // About 200,000 weights: a 5.5 MB snapshot for the quick mode of the benchmarks.
  fc_small: {
    layerDefs: [
      { type: 'input', out_sx: 1, out_sy: 1, out_depth: 784 },
      { type: 'fc', num_neurons: 256, activation: 'relu' },
      { type: 'softmax', num_classes: 10 },
    ],
    trainer: { method: 'adadelta', batch_size: 20 },
    classes: 10,
  },
  // About 1.6 million weights, nearly all in wide 3x3 conv filters: a 43 MB snapshot.
  wide_conv: {
    layerDefs: [
      { type: 'input', out_sx: 32, out_sy: 32, out_depth: 3 },
      { type: 'conv', sx: 3, filters: 128, stride: 1, pad: 1, activation: 'relu' },
      { type: 'pool', sx: 2, stride: 2 },
      { type: 'conv', sx: 3, filters: 384, stride: 1, pad: 1, activation: 'relu' },
      { type: 'pool', sx: 2, stride: 2 },
      { type: 'conv', sx: 3, filters: 320, stride: 1, pad: 1, activation: 'relu' },
      { type: 'pool', sx: 2, stride: 2 },
      { type: 'softmax', num_classes: 10 },
    ],
    trainer: { method: 'adadelta', batch_size: 4 },
    classes: 10,
  },
};

// xorshift32 generator returning floats in (0, 1), so runs are repeatable.
function makeSeededRandom(seed) {
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

function parseOptions(argv) {
  const options = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    if (!flag.startsWith('--') || i + 1 >= argv.length) {
      throw new Error('expected --option VALUE pairs, found ' + JSON.stringify(argv.slice(i)));
    }
    options[flag.slice(2)] = argv[i + 1];
  }
  return options;
}

function integerOption(options, name, fallback) {
  if (options[name] === undefined) {
    if (fallback === undefined) {
      throw new Error('--' + name + ' is required');
    }
    return fallback;
  }
  const value = Number(options[name]);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error('--' + name + ' must be a non-negative integer, found ' + options[name]);
  }
  return value;
}

function network(options) {
  const spec = NETWORKS[options.net];
  if (spec === undefined) {
    throw new Error('unknown --net ' + JSON.stringify(options.net) + '; expected one of ' +
                    Object.keys(NETWORKS).join(', '));
  }
  return spec;
}

function buildNet(spec) {
  const net = new convnetjs.Net();
  net.makeLayers(spec.layerDefs);
  return net;
}

function seconds(start) {
  const [s, ns] = process.hrtime(start);
  return s + ns / 1e9;
}

function cpuSeconds(start) {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

// Peak resident set size of this process. On Linux, VmHWM starts afresh at
// exec, whereas getrusage's maxRSS also covers the parent's pages that the
// forked child held before exec (a parent that loaded TensorFlow adds ~1 GB).
function peakRssBytes() {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (match) {
      return Number(match[1]) * 1024;
    }
  } catch (err) {
    // Not Linux: fall back to getrusage.
  }
  return process.resourceUsage().maxRSS * 1024;
}

function countParameters(net) {
  let count = 0;
  net.getParamsAndGrads().forEach(function (pg) { count += pg.params.length; });
  return count;
}

function makeSnapshot(options) {
  const spec = network(options);
  Math.random = makeSeededRandom(integerOption(options, 'seed', 1));
  const net = buildNet(spec);
  const start = process.hrtime();
  const text = JSON.stringify(net.toJSON());
  fs.writeFileSync(options.out, text);
  return { bytes: Buffer.byteLength(text), parameters: countParameters(net), seconds: seconds(start) };
}

function layerDefs(options) {
  const spec = network(options);
  return { layer_defs: spec.layerDefs, trainer: spec.trainer };
}

function loadNet(file) {
  const start = process.hrtime();
  const cpuStart = process.cpuUsage();
  const text = fs.readFileSync(file, 'utf8');
  const readS = seconds(start);
  const json = JSON.parse(text);
  const parseS = seconds(start) - readS;
  const net = new convnetjs.Net();
  net.fromJSON(json);
  const total = seconds(start);
  return { net: net, seconds: total, cpu_s: cpuSeconds(cpuStart), read_s: readS, parse_s: parseS,
           from_json_s: total - readS - parseS };
}

function load(options) {
  const before = process.memoryUsage().rss;
  const result = loadNet(options.in);
  const out = {
    seconds: result.seconds, cpu_s: result.cpu_s, read_s: result.read_s, parse_s: result.parse_s,
    from_json_s: result.from_json_s, peak_rss_bytes: peakRssBytes(), rss_before_bytes: before,
  };
  // Keep the net alive until the peak has been read.
  out.layers = result.net.layers.length;
  return out;
}

function write(options) {
  const net = loadNet(options.in).net;
  if (global.gc) {
    global.gc();
  }
  const before = process.memoryUsage().rss;
  const start = process.hrtime();
  const cpuStart = process.cpuUsage();
  const text = JSON.stringify(net.toJSON());
  const stringifyS = seconds(start);
  const fd = fs.openSync(options.out, 'w');
  try {
    fs.writeSync(fd, text);
    if (options.fsync === '1') {
      fs.fsyncSync(fd);
    }
  } finally {
    fs.closeSync(fd);
  }
  return { seconds: seconds(start), cpu_s: cpuSeconds(cpuStart), stringify_s: stringifyS,
           bytes: Buffer.byteLength(text), peak_rss_bytes: peakRssBytes(), rss_before_bytes: before };
}

function randomExamples(net, count, classes, random) {
  const input = net.layers[0];
  const examples = [];
  for (let i = 0; i < count; i++) {
    const vol = new convnetjs.Vol(input.out_sx, input.out_sy, input.out_depth, 0.0);
    for (let j = 0; j < vol.w.length; j++) {
      vol.w[j] = random();
    }
    examples.push({ x: vol, y: Math.floor(random() * classes) });
  }
  return examples;
}

function timeLoop(options, step) {
  const spec = network(options);
  const random = makeSeededRandom(integerOption(options, 'seed', 1));
  Math.random = random;
  const net = buildNet(spec);
  const count = integerOption(options, 'examples');
  const warmup = integerOption(options, 'warmup', 10);
  const examples = randomExamples(net, Math.max(count, 1), spec.classes, random);
  const context = { net: net, spec: spec, options: options };
  const prepared = step.prepare(context);
  for (let i = 0; i < warmup; i++) {
    step.run(prepared, examples[i % examples.length]);
  }
  const start = process.hrtime();
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    step.run(prepared, examples[i]);
  }
  const elapsed = seconds(start);
  return { seconds: elapsed, cpu_s: cpuSeconds(cpuStart), examples: count, examples_per_s: count / elapsed };
}

const TRAIN_STEP = {
  prepare: function (context) {
    const trainerOptions = Object.assign({}, context.spec.trainer);
    trainerOptions.batch_size = integerOption(context.options, 'batch-size', trainerOptions.batch_size);
    return new convnetjs.Trainer(context.net, trainerOptions);
  },
  run: function (trainer, example) { trainer.train(example.x, example.y); },
};

const FORWARD_STEP = {
  prepare: function (context) { return context.net; },
  run: function (net, example) { net.forward(example.x, false); },
};

const MODES = {
  'make-snapshot': makeSnapshot,
  'layer-defs': layerDefs,
  load: load,
  write: write,
  train: function (options) { return timeLoop(options, TRAIN_STEP); },
  forward: function (options) { return timeLoop(options, FORWARD_STEP); },
};

function main(argv) {
  const mode = MODES[argv[2]];
  if (mode === undefined) {
    process.stderr.write('usage: node convnetjs_bench.js (' + Object.keys(MODES).join('|') +
                         ') [--option VALUE ...]\n');
    return 2;
  }
  const result = mode(parseOptions(argv.slice(3)));
  result.node_version = process.version;
  process.stdout.write(JSON.stringify(result) + '\n');
  return 0;
}

try {
  process.exitCode = main(process.argv);
} catch (err) {
  process.stderr.write('convnetjs_bench: ' + (err && err.stack ? err.stack : String(err)) + '\n');
  process.exitCode = 1;
}
