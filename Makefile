# The two set-up commands of the README: `make run` and `make test`.
JOBS ?= $(shell nproc)
DATA ?= ./data

.PHONY: run test deps build build-test clean

run: deps build
	mkdir -p $(DATA)
	./build/clewd --data $(DATA)

test: deps build-test
	cd build-test && ctest --output-on-failure -j$(JOBS)

deps:
	@scripts/install-deps.sh

build:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build -j$(JOBS)

build-test:
	CC=clang cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug \
	    -DCLEW_SANITIZE=address,undefined -DCLEW_WERROR=ON -DCLEW_FUZZ=ON >/dev/null
	cmake --build build-test -j$(JOBS)

clean:
	rm -rf build build-test
