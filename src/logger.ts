import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths that may hold a secret anywhere we log. pino's `redact` replaces them before serialisation;
 * the key-leak tests capture real log output to prove nothing slips through.
 */
export const REDACTED_PATHS = [
  'falKey',
  '*.falKey',
  'key',
  '*.key',
  'apiKey',
  '*.apiKey',
  'credentials',
  '*.credentials',
  'token',
  '*.token',
  'botToken',
  '*.botToken',
  'appToken',
  '*.appToken',
  'signingSecret',
  '*.signingSecret',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'encryptedKey',
  '*.encryptedKey',
  'keyEncryptionSecret',
  '*.keyEncryptionSecret',
  // KEY_ENCRYPTION_SECRET as resolved (crypto/keyring's ResolvedSecret), passwords, cookies, and
  // Redis URLs, which may carry a password.
  'secrets',
  '*.secrets',
  'password',
  '*.password',
  'cookie',
  '*.cookie',
  'headers.cookie',
  '*.headers.cookie',
  'redisUrl',
  '*.redisUrl',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'atelier' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      // Errors are logged with their code and message; AppError details never contain secrets.
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    },
    destination,
  );
}
