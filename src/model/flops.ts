// Floating-point operations of one frame through the teacher and the students, counted from the
// architecture: every matrix product (including both attention products), 2 FLOPs per multiply-add.
// Normalisation, softmax, GELU and additions are O(T·D) and left out (well under 1 % at ViT-B sizes).
import type { TeacherArch } from './types.js';

export interface ModelFlops {
  /** Tokens per frame: cls + registers + patches. */
  tokens: number;
  patchEmbed: number;
  /** Per block: q/k/v, output projection and the two MLP layers. */
  blockLinear: number;
  /** Per block: Q·Kᵀ and softmax(·)·V over all heads. */
  blockAttention: number;
  /** Blocks evaluated (up to the deepest feature layer). */
  blocks: number;
  teacher: number;
  /** Both students on every patch token. */
  students: number;
  total: number;
}

export function modelFlops(
  arch: TeacherArch,
  size: number,
  lastLayer = arch.depth,
  studentHidden = arch.dim,
): ModelFlops {
  const g = size / arch.patch;
  if (!Number.isInteger(g)) throw new Error(`size ${size} is not a multiple of the patch ${arch.patch}`);
  const P = g * g;
  const T = 1 + arch.registers + P;
  const D = arch.dim;
  const patchEmbed = 2 * P * D * 3 * arch.patch * arch.patch;
  const blockLinear = 2 * T * D * (3 * D + D + 2 * arch.mlpHidden);
  const blockAttention = 2 * 2 * T * T * D;
  const teacher = patchEmbed + lastLayer * (blockLinear + blockAttention);
  const H = studentHidden;
  const students = 2 * (2 * P * (D * H + H * H + H * D));
  return {
    tokens: T,
    patchEmbed,
    blockLinear,
    blockAttention,
    blocks: lastLayer,
    teacher,
    students,
    total: teacher + students,
  };
}

/** DINOv2 ViT-B/14 with registers, as the method uses it. */
export const VIT_B14_REG: TeacherArch = {
  depth: 12,
  dim: 768,
  heads: 12,
  registers: 4,
  patch: 14,
  mlpHidden: 3072,
  posGrid: 37,
  lnEps: 1e-6,
};
