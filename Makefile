# The two commands of the README. Both set up what they need (Debian packages, npm, build) and are idempotent.
.PHONY: demo test setup bench

setup:
	@bash scripts/setup.sh

# The main job: dev teacher, synthetic parts, teach-in, local mosquitto, `pinpoint run`, live verdicts (Ctrl-C stops).
demo: setup
	node bin/pinpoint.js demo

test: setup
	npm test

bench: setup
	npm run bench
