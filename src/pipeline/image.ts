// Image and map containers shared by the pipeline's pure maths.
// Conventions: row-major, origin top-left; Image is HWC interleaved (RGB when channels = 3, grey when 1),
// one byte per sample; FloatMap is one float per pixel (an anomaly map in original-frame pixels).

export interface Image {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

export interface FloatMap {
  width: number;
  height: number;
  data: Float32Array;
}

/** Throws when the buffer does not hold exactly width·height·channels samples (catches stride/format slips early). */
export function assertImage(img: Image): void {
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`image: bad size ${width}x${height}`);
  }
  if (channels !== 1 && channels !== 3) throw new Error(`image: channels must be 1 or 3, got ${channels}`);
  if (data.length !== width * height * channels) {
    throw new Error(
      `image: ${width}x${height}x${channels} needs ${width * height * channels} bytes, got ${data.length}`,
    );
  }
}
