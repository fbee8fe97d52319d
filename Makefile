# The two commands of the README. Both set up what they need (Debian packages, npm, build) and are idempotent.
.PHONY: demo test setup bench

setup:
	@bash scripts/setup.sh

# Until `pinpoint demo` exists, the main job reports what this host can run.
demo: setup
	node bin/pinpoint.js doctor

test: setup
	npm test

bench: setup
	npm run bench
