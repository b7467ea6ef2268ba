"""The application layer: each command's load suite, guard folder, execute and build report, in one place."""
