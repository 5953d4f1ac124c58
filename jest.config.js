/** Tests live under test/: unit (no I/O), integration (real HTTP on loopback), e2e (Playground + Chromium),
 * security and durable (Azurite). Type checking is done once by `npm run typecheck`, so ts-jest only transpiles. */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  moduleNameMapper: { '^adaptivecards$': '<rootDir>/node_modules/adaptivecards/dist/adaptivecards.js' },
  setupFilesAfterEnv: ['<rootDir>/test/setup-after-env.ts'],
  clearMocks: true,
  restoreMocks: true,
  errorOnDeprecated: true,
  testTimeout: 30000,
  maxWorkers: 2,
};
