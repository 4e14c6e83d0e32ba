#!/usr/bin/env node
// Runs the real ConvNetJS 0.3.0 (npm package "convnetjs") on one request so
// the Python tests can compare convnetjs-keras against the reference library.
//
// Usage: node convnetjs_runner.js REQUEST.json RESPONSE.json
//
// The request is a JSON object whose "mode" field selects the operation:
//   forward      {snapshot, inputs: [[flat NHWC values], ...], layers: bool}
//                -> {outputs: [[...], ...], activations?: [[[...] per layer] per example]}
//   make_layers  {layer_defs: [...]} -> {snapshot}
//   train        {snapshot, trainer: {options}, examples: [{x: [...], y}], epochs}
//                -> {snapshot, stats: [train() result per example, without timings]}
// Any request may carry an integer "seed". The runner then replaces
// Math.random with a seeded generator, which makes weight initialization
// (make_layers) and dropout masks (train) reproducible.
//
// Snapshots are written exactly as JSON.stringify(net.toJSON()) writes them.
// That means Float64Array weights appear as {"0": w0, "1": w1, ...} objects,
// and non-finite weights appear as null, as in ConvNetJS's own saved files.
// Everywhere else in the response (outputs, activations, stats), NaN and
// +/-Infinity are written as the bare tokens NaN, Infinity and -Infinity,
// which Python's json module reads back as floats. Plain JSON has no such
// tokens, so the response is only strict JSON when every number is finite.
'use strict';

const fs = require('fs');
const path = require('path');

// The package is installed by `npm ci` in the repository root, two levels up.
const REPO_ROOT = path.resolve(__dirname, '..', '..');

function loadConvnetjs() {
  let resolved;
  try {
    resolved = require.resolve('convnetjs', { paths: [REPO_ROOT] });
  } catch (err) {
    throw new Error(
      'convnetjs is not installed in ' + path.join(REPO_ROOT, 'node_modules') +
      '; run `npm ci` in the repository root');
  }
  return require(resolved);
}

const convnetjs = loadConvnetjs();

// xorshift32 generator returning floats in (0, 1). Zero is never produced
// because a nonzero xorshift state never becomes zero.
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

// Expected number of weights in a serialized Vol.
function volSize(vol) {
  return vol.sx * vol.sy * vol.depth;
}

// Checks that every serialized Vol in a snapshot has sx*sy*depth numeric
// entries, because Vol.fromJSON silently reads missing entries as NaN.
// Accepts both plain arrays and the {"0": ..} objects that JSON.stringify
// makes from Float64Array.
function checkVol(vol, where) {
  if (vol === null || typeof vol !== 'object' || vol.w === undefined) {
    throw new Error(where + ': expected a Vol object with sx, sy, depth and w');
  }
  const n = volSize(vol);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(where + ': invalid Vol shape sx=' + vol.sx + ' sy=' + vol.sy +
                    ' depth=' + vol.depth);
  }
  for (let i = 0; i < n; i++) {
    const value = vol.w[i];
    // JSON.stringify writes a non-finite weight as null, and Vol.fromJSON
    // then stores it as 0. Such snapshots are accepted as ConvNetJS does.
    if (typeof value !== 'number' && value !== null) {
      throw new Error(where + ': weight ' + i + ' of ' + n + ' is missing or not a number');
    }
  }
}

function checkSnapshot(snapshot) {
  if (snapshot === null || typeof snapshot !== 'object' || !Array.isArray(snapshot.layers)) {
    throw new Error('snapshot must be an object with a "layers" list (Net.toJSON() output)');
  }
  if (snapshot.layers.length === 0 || snapshot.layers[0].layer_type !== 'input') {
    throw new Error('snapshot.layers[0] must be an input layer');
  }
  snapshot.layers.forEach(function (layer, i) {
    const where = 'snapshot.layers[' + i + '] (' + layer.layer_type + ')';
    if (Array.isArray(layer.filters)) {
      layer.filters.forEach(function (vol, j) { checkVol(vol, where + '.filters[' + j + ']'); });
    }
    if (layer.biases !== undefined) {
      checkVol(layer.biases, where + '.biases');
    }
  });
}

function netFromSnapshot(snapshot) {
  checkSnapshot(snapshot);
  const net = new convnetjs.Net();
  net.fromJSON(snapshot);
  return net;
}

// Copies one flat NHWC example into a Vol shaped like the input layer.
function inputVol(net, values, index) {
  const input = net.layers[0];
  const n = input.out_sx * input.out_sy * input.out_depth;
  if (!Array.isArray(values) || values.length !== n) {
    const got = Array.isArray(values) ? values.length + ' values' : typeof values;
    throw new Error('input ' + index + ' has ' + got + ', expected ' + n + ' (out_sx=' +
                    input.out_sx + ' out_sy=' + input.out_sy + ' out_depth=' +
                    input.out_depth + ')');
  }
  const vol = new convnetjs.Vol(input.out_sx, input.out_sy, input.out_depth, 0.0);
  for (let i = 0; i < n; i++) {
    vol.w[i] = values[i];
  }
  return vol;
}

function runForward(request) {
  const net = netFromSnapshot(request.snapshot);
  if (!Array.isArray(request.inputs)) {
    throw new Error('forward request needs an "inputs" list of flat examples');
  }
  const outputs = [];
  const activations = [];
  request.inputs.forEach(function (values, index) {
    const out = net.forward(inputVol(net, values, index), false);
    outputs.push(Array.from(out.w));
    if (request.layers) {
      activations.push(net.layers.map(function (layer) { return Array.from(layer.out_act.w); }));
    }
  });
  const response = { outputs: outputs };
  if (request.layers) {
    response.activations = activations;
  }
  return response;
}

// Runs fn while collecting console.log lines, because Net.makeLayers reports
// bad layer definitions only by logging "ERROR ..." and carrying on.
function withLoggedErrors(fn) {
  const originalLog = console.log;
  const errors = [];
  console.log = function () {
    const line = Array.from(arguments).map(String).join(' ');
    if (line.startsWith('ERROR')) {
      errors.push(line);
    }
    process.stderr.write(line + '\n');
  };
  let result;
  try {
    result = fn();
  } catch (err) {
    if (errors.length > 0) {
      err.message += ' (ConvNetJS logged: ' + errors.join('; ') + ')';
    }
    throw err;
  } finally {
    console.log = originalLog;
  }
  if (errors.length > 0) {
    throw new Error('ConvNetJS rejected the layer definitions: ' + errors.join('; '));
  }
  return result;
}

function runMakeLayers(request) {
  if (!Array.isArray(request.layer_defs)) {
    throw new Error('make_layers request needs a "layer_defs" list');
  }
  const net = new convnetjs.Net();
  withLoggedErrors(function () { net.makeLayers(request.layer_defs); });
  return { snapshot: net.toJSON() };
}

const TIMING_FIELDS = ['fwd_time', 'bwd_time'];

function runTrain(request) {
  const net = netFromSnapshot(request.snapshot);
  const trainer = new convnetjs.Trainer(net, request.trainer || {});
  const examples = request.examples;
  if (!Array.isArray(examples)) {
    throw new Error('train request needs an "examples" list of {x, y} objects');
  }
  const epochs = request.epochs === undefined ? 1 : request.epochs;
  if (!Number.isInteger(epochs) || epochs < 0) {
    throw new Error('epochs must be a non-negative integer, got ' + JSON.stringify(epochs));
  }

  const vols = examples.map(function (example, index) { return inputVol(net, example.x, index); });
  const stats = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = 0; i < examples.length; i++) {
      const result = trainer.train(vols[i], examples[i].y);
      const statsWithoutTimings = {};
      Object.keys(result).forEach(function (key) {
        if (!TIMING_FIELDS.includes(key)) {
          statsWithoutTimings[key] = result[key];
        }
      });
      stats.push(statsWithoutTimings);
    }
  }
  return { snapshot: net.toJSON(), stats: stats };
}

// Serializes a value, writing non-finite numbers as the tokens NaN,
// Infinity and -Infinity in place of JSON.stringify's null.
function stringifyKeepingNonFinite(value) {
  const marker = '__convnetjs_runner_nonfinite__';
  const encoded = JSON.stringify(value, function (key, item) {
    if (typeof item === 'number' && !Number.isFinite(item)) {
      return marker + String(item);
    }
    return item;
  });
  return encoded.replace(new RegExp('"' + marker + '(NaN|Infinity|-Infinity)"', 'g'), '$1');
}

// Serializes the response. The snapshot keeps JSON.stringify's own output
// (non-finite weights become null) so that it matches a file saved by
// ConvNetJS. The other fields keep non-finite numbers.
function serializeResponse(response) {
  const fields = Object.keys(response).map(function (key) {
    const text = key === 'snapshot'
      ? JSON.stringify(response[key])
      : stringifyKeepingNonFinite(response[key]);
    return JSON.stringify(key) + ':' + text;
  });
  return '{' + fields.join(',') + '}';
}

function main(argv) {
  if (argv.length !== 4) {
    process.stderr.write('usage: node convnetjs_runner.js REQUEST.json RESPONSE.json\n');
    return 2;
  }
  const request = JSON.parse(fs.readFileSync(argv[2], 'utf8'));
  if (request.seed !== undefined && request.seed !== null) {
    if (!Number.isInteger(request.seed)) {
      throw new Error('seed must be an integer, got ' + JSON.stringify(request.seed));
    }
    Math.random = makeSeededRandom(request.seed);
  }

  let response;
  switch (request.mode) {
    case 'forward': response = runForward(request); break;
    case 'make_layers': response = runMakeLayers(request); break;
    case 'train': response = runTrain(request); break;
    default:
      throw new Error('unknown mode ' + JSON.stringify(request.mode) +
                      '; expected "forward", "make_layers" or "train"');
  }
  fs.writeFileSync(argv[3], serializeResponse(response));
  return 0;
}

try {
  process.exitCode = main(process.argv);
} catch (err) {
  process.stderr.write('convnetjs_runner: ' + (err && err.stack ? err.stack : String(err)) + '\n');
  process.exitCode = 1;
}
