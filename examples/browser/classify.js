// Classify an image with a ConvNetJS snapshot and show the network's outputs.
//
// Preprocessing follows the ConvNetJS demos: the image is drawn into a canvas
// of the network's input size, and input channel d of pixel (x, y) is
// RGBA channel d divided by 255, minus 0.5. So a depth-1 network reads the
// red channel (the gray level of a grayscale image), depth 3 reads RGB and
// depth 4 RGBA. Give an image of the input size to avoid resampling.
//
// The outputs are shown in a table, and stored as JSON in <pre id="probabilities">
// and as window.convnetjsResult = {outputs, predicted}.
'use strict';

(function () {
  const params = new URLSearchParams(window.location.search);
  const snapshotUrl = params.get('snapshot') || 'snapshot.json';
  const imageUrl = params.get('image') || 'image.png';
  const labels = params.get('labels') ? params.get('labels').split(',') : null;

  const statusLine = document.getElementById('status');
  const canvas = document.getElementById('input');

  function setStatus(text, isError) {
    statusLine.textContent = text;
    statusLine.className = isError ? 'error' : '';
    document.body.dataset.state = isError ? 'error' : 'ready';
  }

  async function loadNet(url) {
    const response = await fetch(url);
    if (!response.ok) {
      throw new Error(`failed to load ${url}: HTTP ${response.status}`);
    }
    const json = await response.json();
    if (Array.isArray(json.nets)) {
      throw new Error(`${url} is a MagicNet file; this page runs a single network (net.toJSON())`);
    }
    if (!Array.isArray(json.layers)) {
      throw new Error(`${url} is not a ConvNetJS snapshot: it has no "layers" list`);
    }
    const net = new convnetjs.Net();
    net.fromJSON(json);
    return net;
  }

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image);
      image.onerror = () => reject(new Error(`failed to load the image ${url}`));
      image.src = url;
    });
  }

  // Returns a convnetjs.Vol of the network's input size containing pixel / 255 - 0.5.
  function imageToVol(image, net) {
    const input = net.layers[0];
    const sx = input.out_sx;
    const sy = input.out_sy;
    const depth = input.out_depth;
    if (depth > 4) {
      throw new Error(`the network takes ${depth} channels; an image has at most 4 (RGBA)`);
    }
    canvas.width = sx;
    canvas.height = sy;
    const context = canvas.getContext('2d', { willReadFrequently: true });
    context.clearRect(0, 0, sx, sy);
    context.drawImage(image, 0, 0, sx, sy);
    const pixels = context.getImageData(0, 0, sx, sy).data; // RGBA, row by row
    const vol = new convnetjs.Vol(sx, sy, depth, 0.0);
    for (let y = 0; y < sy; y++) {
      for (let x = 0; x < sx; x++) {
        for (let d = 0; d < depth; d++) {
          vol.set(x, y, d, pixels[(y * sx + x) * 4 + d] / 255.0 - 0.5);
        }
      }
    }
    return vol;
  }

  function showOutputs(outputs, layerType) {
    let predicted = 0;
    for (let i = 1; i < outputs.length; i++) {
      if (outputs[i] > outputs[predicted]) predicted = i;
    }
    const table = document.getElementById('table');
    table.innerHTML = '';
    const header = table.insertRow();
    header.innerHTML = `<th>class</th><th>${layerType === 'softmax' ? 'probability' : 'output'}</th><th></th>`;
    outputs.forEach((value, index) => {
      const row = table.insertRow();
      const name = labels && labels[index] !== undefined ? labels[index] : String(index);
      row.insertCell().textContent = index === predicted ? `${name} (predicted)` : name;
      row.insertCell().textContent = value.toFixed(6);
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.style.width = `${Math.max(0, Math.min(1, value)) * 10}em`;
      row.insertCell().appendChild(bar);
    });
    window.convnetjsResult = { outputs: outputs, predicted: predicted };
    document.getElementById('probabilities').textContent = JSON.stringify(outputs);
  }

  function classify(net, image) {
    const vol = imageToVol(image, net);
    const output = net.forward(vol, false);
    const layerType = net.layers[net.layers.length - 1].layer_type;
    showOutputs(Array.from(output.w), layerType);
    setStatus(`${layerType} output of ${net.layers.length} layers; predicted class ` +
              `${window.convnetjsResult.predicted}.`, false);
  }

  async function main() {
    try {
      const net = await loadNet(snapshotUrl);
      document.getElementById('file').addEventListener('change', (event) => {
        const file = event.target.files[0];
        if (!file) return;
        const url = URL.createObjectURL(file);
        loadImage(url).then((image) => classify(net, image))
          .catch((error) => setStatus(`Error: ${error.message}`, true))
          .finally(() => URL.revokeObjectURL(url));
      });
      classify(net, await loadImage(imageUrl));
    } catch (error) {
      setStatus(`Error: ${error.message}`, true);
    }
  }

  main();
})();
