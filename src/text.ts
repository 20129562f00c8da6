/** Ends a clause with exactly one full stop, whatever punctuation it already had: "too graphic!" → "too graphic." */
export const sentence = (text: string) => `${text.trim().replace(/[.!?\s]+$/, '')}.`;
