/** Narrowing helpers for row mappers: a value outside the vocabulary means the file was edited by hand or by newer code. */
export function oneOf<T extends string>(value: string, allowed: readonly T[], column: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new Error(`Unexpected ${column} ${JSON.stringify(value)} in the database`);
}

export function parseJson(text: string, column: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`Unreadable JSON in ${column}`, { cause: error });
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Column names for explicit SELECT lists, so no query depends on the table's column order. */
export function columns(names: readonly string[], alias?: string): string {
  return names.map((name) => (alias ? `${alias}.${name}` : name)).join(', ');
}
