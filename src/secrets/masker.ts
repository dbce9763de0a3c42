export const MASK = '********';

/**
 * Replaces known secret values in text with `********`. Values shorter than
 * 4 characters are not masked: masking every "1" or "on" in a build log would
 * hide the log, not the secret, and such values protect nothing anyway.
 */
export class Masker {
  // An ES private field: never enumerated, so a Masker that ends up in a JSON dump leaks nothing.
  #values: string[] = [];

  add(value: string): void {
    if (value.length < 4 || this.#values.includes(value)) return;
    // Longest first, so a secret that contains another is masked whole.
    this.#values = [...this.#values, value].sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.#values.length;
  }

  mask(text: string): string {
    let out = text;
    for (const v of this.#values) if (out.includes(v)) out = out.split(v).join(MASK);
    return out;
  }
}
