#!/usr/bin/env bash
# Downloads the Delta Lake jars for the test Spark Connect server into .tools/spark-extra-jars/.
#
#   scripts/install-delta.sh          # idempotent: checks the pinned SHA-1 of what is there
#
# Pinned to the Spark of scripts/install.sh (pyspark 4.0.1): Delta 4.0.1 is built against Spark
# 4.0.1 and Scala 2.13. Its only runtime dependency besides Spark is delta-storage; antlr4-runtime
# 4.13.1 already ships in pyspark's jars/. scripts/services.sh passes the jars with --jars plus
#   --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
#   --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.tools/spark-extra-jars"
MAVEN="${AIFLOW_MAVEN_MIRROR:-https://repo1.maven.org/maven2}"
DELTA_VERSION=4.0.1

# path-in-maven sha1
JARS=(
  "io/delta/delta-spark_2.13/$DELTA_VERSION/delta-spark_2.13-$DELTA_VERSION.jar 3e469898dc4ed083c735ae360beb063adcd12e9d"
  "io/delta/delta-storage/$DELTA_VERSION/delta-storage-$DELTA_VERSION.jar ebc5384d953c1d70d0ce4ceee42892da74051a81"
)

mkdir -p "$DEST"
for entry in "${JARS[@]}"; do
  path="${entry% *}" sum="${entry#* }" name="$(basename "${entry% *}")"
  if [[ -f "$DEST/$name" ]] && echo "$sum  $DEST/$name" | sha1sum -c --quiet - 2>/dev/null; then
    continue
  fi
  echo "delta: downloading $name" >&2
  curl -fsSL --retry 3 -o "$DEST/$name.part" "$MAVEN/$path"
  echo "$sum  $DEST/$name.part" | sha1sum -c --quiet - || { echo "delta: checksum mismatch for $name" >&2; rm -f "$DEST/$name.part"; exit 1; }
  mv "$DEST/$name.part" "$DEST/$name"
done
echo "delta $DELTA_VERSION jars in $DEST" >&2
