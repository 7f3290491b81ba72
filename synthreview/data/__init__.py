"""Package data: the embedded demo APK (``demo.apk``, built by tests/fixtures/build_fixtures.sh)."""
