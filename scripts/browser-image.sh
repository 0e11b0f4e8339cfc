#!/usr/bin/env bash
# Builds the docker engine's machine image (92-browser-rooms §2.3) from Debian packages alone, for
# hosts that reach no image registry: a `debootstrap --variant=minbase` root imported with
# `docker import`, then Chromium installed into it over the host's network. The image carries the
# hash of this script as a label, and a build is skipped when an image with that label exists.
#
# Usage: scripts/browser-image.sh [image]   (default portal-browser:latest)
# Needs: root, a running Docker daemon, debootstrap; reaches deb.debian.org (or DEBIAN_MIRROR).
set -euo pipefail

IMAGE=${1:-portal-browser:latest}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${DEBIAN_SUITE:-bookworm}
RECIPE=$(sha256sum "$0" | cut -c1-16)

if [[ $(docker image inspect --format '{{index .Config.Labels "portal.recipe"}}' "$IMAGE" 2>/dev/null) == "$RECIPE" ]]; then
  echo "browser image $IMAGE is up to date (recipe $RECIPE)" >&2
  exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BASE="portal-browser-base:$RECIPE"
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  echo "== debootstrap $SUITE (minbase) from $MIRROR" >&2
  debootstrap --variant=minbase "$SUITE" "$WORK/root" "$MIRROR" >&2
  tar -C "$WORK/root" -c . | docker import - "$BASE" >/dev/null
  rm -rf "$WORK/root"
fi

echo "== installing Chromium into $IMAGE" >&2
# The machine runs as an unprivileged user with a read-only root: its home, the profile and /tmp are
# tmpfs mounts made by the server, so nothing of a run is written into the image's layers.
cat > "$WORK/Dockerfile" <<EOF
FROM $BASE
RUN echo "deb $MIRROR $SUITE main" > /etc/apt/sources.list \\
 && apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* \\
 && useradd --uid 10001 --home-dir /home/browser --shell /usr/sbin/nologin browser
USER 10001
ENV HOME=/home/browser
LABEL portal.recipe=$RECIPE
EOF
docker build --quiet --network host -t "$IMAGE" "$WORK" >&2
docker image rm "$BASE" >/dev/null 2>&1 || true
echo "browser image $IMAGE built (recipe $RECIPE)" >&2
