#!/usr/bin/env bash
# The main job on the bundled fixtures, with the embedded defaults: no cloud account,
# results written to the local folder out/ (DEMO_OUT to change it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
out=${DEMO_OUT:-out}
mkdir -p "$out"

echo "== inspect: every fixture, type from content =="
mediaprep inspect fixtures/media/* | tee "$out/inspect.txt"
mediaprep inspect --json fixtures/media/* > "$out/inspect.json"

echo
echo "== convert: every picture for ClickSend (250 kB, jpg/gif), and for older handsets (30 kB) =="
for f in fixtures/media/*.jpg fixtures/media/*.png fixtures/media/*.bmp fixtures/media/*.gif \
         fixtures/media/*.webp fixtures/media/*.tiff fixtures/media/*.heic; do
  mediaprep convert "$f" -o "$out/clicksend/" --profile clicksend
  mediaprep convert "$f" -o "$out/legacy-30k/" --profile clicksend+legacy-30k
done

echo
echo "== convert: contact, calendar and PDF for Sinch =="
for f in fixtures/media/contact.vcf fixtures/media/event.ics fixtures/media/flyer.pdf; do
  mediaprep convert "$f" -o "$out/sinch/" --profile sinch
done

echo
echo "== check: a good message against both Sinch APIs =="
mediaprep check fixtures/messages/ok-sinch.json --profile sinch
mediaprep check fixtures/messages/ok-sinch.json --profile sinch-xml+att-toll-free --json > "$out/check-ok-sinch.json"

echo
echo "== check: messages that break rules (exit 1 is the expected answer here) =="
for pair in five-problems-sinch:sinch-xml clicksend:clicksend; do
  message=${pair%%:*} profile=${pair##*:}
  rc=0
  mediaprep check "fixtures/messages/$message.json" --profile "$profile" || rc=$?
  mediaprep check "fixtures/messages/$message.json" --profile "$profile" --json > "$out/check-$message.json" || true
  [ "$rc" = 1 ] || { echo "demo: expected exit 1 for $message, got $rc" >&2; exit 1; }
done

echo
echo "Reports written to $out/"
