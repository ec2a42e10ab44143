#!/usr/bin/env bash
# Build the bot and runner images in Azure Container Registry (ACR Tasks: no local Docker engine needed)
# and hand their names back to the toolkit, which writes them to env/.env.<env>; the arm/deploy that
# follows in teamsapp.yml's deploy stage then rolls both Container Apps onto them.
#   usage: infra/scripts/build-images.sh <registry name> [tag]
set -euo pipefail
cd "$(dirname "$0")/../.."

registry="${1:?usage: build-images.sh <registry name> [tag]}"
# A new tag per build, so every deploy is a new Container Apps revision.
tag="${2:-$(git rev-parse --short HEAD 2>/dev/null || echo build)-$(date -u +%Y%m%d%H%M%S)}"
login_server="$(az acr show --name "$registry" --query loginServer --output tsv)"

for target in bot runner; do
  # Progress goes to stderr: the toolkit reads stdout for ::set-teamsfx-env lines.
  az acr build --registry "$registry" --image "reportbot-$target:$tag" \
    --file infra/docker/Dockerfile --target "$target" . >&2
done

echo "::set-teamsfx-env BOT_IMAGE=$login_server/reportbot-bot:$tag"
echo "::set-teamsfx-env RUNNER_IMAGE=$login_server/reportbot-runner:$tag"
