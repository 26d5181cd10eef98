# Sourced by the Java examples' run.sh: `source examples/java-example.sh <name> <source dirs>`,
# from the repository's root. Finds a JDK, builds examples/<name> when it or a module it runs on
# (<source dirs>) changed, and creates its keyward:verify key with ./keyward keys create unless
# KEYWARD_VERIFY_KEY is set. Exports JAVA_HOME, KEYWARD_URL, KEYWARD_VERIFY_KEY and example_cp
# (the class path to run it with).
example_name="$1"
shift
example_dir="examples/$example_name"
# shellcheck source=../bin/find-jdk.sh
source bin/find-jdk.sh
export KEYWARD_URL="${KEYWARD_URL:-http://127.0.0.1:8080}"
if [ ! -f "$example_dir/target/classpath.txt" ] || [ -n "$(find "$example_dir/src" "$@" -newer "$example_dir/target/classpath.txt" -print -quit)" ]; then
  echo "building the example (./mvnw -pl $example_dir -am package)" >&2
  ./mvnw -q -B -ntp package -DskipTests -pl "$example_dir" -am >&2
fi
if [ -z "${KEYWARD_VERIFY_KEY:-}" ]; then
  created="$(./keyward keys create --name "$example_name-example" --owner example \
    --scope keyward:verify --url "$KEYWARD_URL")" \
    || { echo "run.sh: could not create the example's key; is ./keyward serve running at $KEYWARD_URL?" >&2; exit 2; }
  KEYWARD_VERIFY_KEY="$(printf '%s' "$created" | sed -n 's/.*"key" *: *"\([^"]*\)".*/\1/p' | head -n 1)"
fi
export KEYWARD_VERIFY_KEY
example_cp="$example_dir/target/classes:$(cat "$example_dir/target/classpath.txt")"
