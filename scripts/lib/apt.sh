# Sourced by setup.sh and scripts/setup-*.sh: the one way they install Debian packages.
# apt_install_missing WHO PACKAGE...: installs those dpkg does not have; `apt-get update` runs
# only then. --no-install-recommends: podman would otherwise pull crun, which this kernel setup
# breaks, and nothing here needs a recommended package.
apt_install_missing() {
  local who=$1 p
  shift
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "$who: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
