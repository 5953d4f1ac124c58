// docs/conventions.md C13: every test must assert something observable.
beforeEach(() => {
  expect.hasAssertions();
});
