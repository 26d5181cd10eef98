# Sourced by ./keyward and ./run-tests. Exports JAVA_HOME pointing at a JDK whose feature
# version is at least 21 (Keyward's language level), or exits with a message naming what was
# tried. Order: $JAVA_HOME, `java` on the PATH, then JDKs under /usr/lib/jvm and
# /Library/Java/JavaVirtualMachines (newest first).

keyward_jdk_version() {
  # Prints the feature version (17, 21, 25, ...) of the JDK at $1, or nothing.
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 0
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n 1
}

keyward_find_jdk() {
  local candidate version tried=""
  local candidates=()
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  if command -v java >/dev/null 2>&1; then
    candidate=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    candidates+=("$candidate")
  fi
  for candidate in $(ls -d /usr/lib/jvm/*/ /Library/Java/JavaVirtualMachines/*/Contents/Home/ 2>/dev/null | sort -rV); do
    candidates+=("${candidate%/}")
  done
  for candidate in "${candidates[@]}"; do
    version=$(keyward_jdk_version "$candidate")
    if [ -n "$version" ] && [ "$version" -ge 21 ]; then
      export JAVA_HOME="$candidate"
      return 0
    fi
    tried="$tried\n  $candidate (${version:-not a JDK})"
  done
  printf 'keyward: needs a JDK 21 or newer; none found. Tried:%b\nSet JAVA_HOME to a JDK >= 21.\n' "$tried" >&2
  return 1
}

keyward_find_jdk || exit 1
