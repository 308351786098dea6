// The drawing pad and image helpers: strokes on a 280x280 canvas become a 28x28 MNIST-style image
// (the digit's bounding box scaled into 20x20, centred by its centre of mass in 28x28).
const SIZE = 28;

/** Draws a [0,1] grayscale image (H x W floats) scaled onto `canvas`; values map to black..white. */
export function showImage(canvas: HTMLCanvasElement, img: Float32Array, w = SIZE, h = SIZE): void {
  const small = document.createElement('canvas');
  small.width = w; small.height = h;
  const sg = small.getContext('2d')!;
  const data = sg.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, img[i])));
    data.data.set([v, v, v, 255], 4 * i);
  }
  sg.putImageData(data, 0, 0);
  const g = canvas.getContext('2d')!;
  g.imageSmoothingEnabled = false;
  g.drawImage(small, 0, 0, canvas.width, canvas.height);
}

/** The perturbation x_adv - x, amplified: 0 is mid-gray, +-eps are white/black. */
export function perturbation(adv: Float32Array, x: Float32Array, eps: number): Float32Array {
  return Float32Array.from(adv, (v, i) => 0.5 + (v - x[i]) / (2 * Math.max(eps, 1e-6)));
}

/** The pad's strokes as a 28x28 MNIST-style image, or null when it is empty. */
function padImage(pad: HTMLCanvasElement): Float32Array | null {
  const g = pad.getContext('2d')!;
  const { data, width, height } = g.getImageData(0, 0, pad.width, pad.height);
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    if (data[4 * (y * width + x)] > 20) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1, s = 20 / Math.max(bw, bh);
  const c = document.createElement('canvas');
  c.width = SIZE; c.height = SIZE;
  const cg = c.getContext('2d')!;
  cg.fillStyle = 'black'; cg.fillRect(0, 0, SIZE, SIZE);
  cg.drawImage(pad, x0, y0, bw, bh, (SIZE - bw * s) / 2, (SIZE - bh * s) / 2, bw * s, bh * s);
  const px = cg.getImageData(0, 0, SIZE, SIZE).data;
  const img = new Float32Array(SIZE * SIZE);
  let m = 0, mx = 0, my = 0;
  for (let i = 0; i < img.length; i++) { img[i] = px[4 * i] / 255; m += img[i]; mx += img[i] * (i % SIZE); my += img[i] * Math.floor(i / SIZE); }
  const dx = Math.round(SIZE / 2 - 0.5 - mx / m), dy = Math.round(SIZE / 2 - 0.5 - my / m);
  const out = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) {
    const sx = x - dx, sy = y - dy;
    if (sx >= 0 && sx < SIZE && sy >= 0 && sy < SIZE) out[y * SIZE + x] = img[sy * SIZE + sx];
  }
  return out;
}

/** Pointer drawing on `pad`; `onImage` gets the MNIST-style image after each stroke. */
export function attachPad(pad: HTMLCanvasElement, onImage: (img: Float32Array) => void): { clear(): void } {
  const g = pad.getContext('2d')!;
  const clear = () => { g.fillStyle = 'black'; g.fillRect(0, 0, pad.width, pad.height); };
  clear();
  let drawing = false;
  const at = (e: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true; pad.setPointerCapture(e.pointerId);
    g.strokeStyle = 'white'; g.lineWidth = 20; g.lineCap = 'round'; g.lineJoin = 'round';
    g.beginPath(); g.moveTo(...at(e)); g.lineTo(...at(e)); g.stroke();
  });
  pad.addEventListener('pointermove', (e) => { if (drawing) { g.lineTo(...at(e)); g.stroke(); } });
  pad.addEventListener('pointerup', () => {
    drawing = false;
    const img = padImage(pad);
    if (img) onImage(img);
  });
  return { clear };
}
