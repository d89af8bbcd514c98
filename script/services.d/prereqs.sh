# shellcheck shell=bash
# Sourced by script/services: installs what it needs from Debian only when
# missing (fresh machines, CI), never asking questions.
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  local sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  # Another apt run (e.g. a parallel setup step) may hold the lock: wait for it.
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 -qq update || say "apt-get update failed; installing anyway" >&2
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends "$@" >/dev/null
}

java_major() { java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ { print $2 }'; }

ensure_tools() {
  local jvm
  # Kafka 4 needs Java >= 17 and Cassandra 5.0 runs on 11 or 17 only: use 17.
  if ! command -v javac >/dev/null || [[ $(java_major) != 17 ]]; then
    jvm=/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)
    [[ -x $jvm/bin/javac ]] || apt_install openjdk-17-jdk-headless
    export PATH=$jvm/bin:$PATH
  fi
  command -v mvn >/dev/null || apt_install maven
}
