#!/usr/bin/env bash
# Installs the Debian packages tasktap's build, tests and demo need, when
# they are missing. Needs root (apt-get); does nothing when all are there.
set -euo pipefail

packages=(
	make gcc g++ clang llvm binutils pkg-config
	rustc # Debian's: legacy symbol mangling, for the Rust fixture of the resolution tests
	libbpf-dev bpftool libelf-dev zlib1g-dev libyaml-dev libxxhash-dev xxhash
	libcmocka-dev systemtap-sdt-dev
	libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev libmicrohttpd-dev
	python3-grpcio
	libiberty-dev
	python3 python3-yaml procps util-linux
	gearman-job-server gearman-tools # the real queue the Gearman recipe is tested against
	rabbitmq-server amqp-tools librabbitmq-dev # the RabbitMQ recipe's broker, clients and C consumer
	redis-server redis-tools libhiredis-dev # the Redis queue recipe, and the Python workers' broker
	libgearman-dev # the Gearman recipe's C client and worker
	python3-rq python3-celery python3-redis # the Python recipes' real workers
	libpython3.11 # the offsets tests read Debian's libpython3.11 and link a program against it
	prometheus # promtool, and a real server for the /metrics end-to-end test
	bpftrace # make bench: the bpftrace reference of the per-call benchmark
	chromium # the task view's browser tests (tests/e2e/test_view_browser.py) and its bench
	groff-base # the end-to-end test of the tasktap(8) manual page
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
