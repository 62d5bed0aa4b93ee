# The mediaprep command in a container (the HTTP sidecar will be another entry point on it).
# Debian 12, as the machines the tests run on: the image's ffmpeg (5.1) and libmagic are those the
# tests ran against. The unpinned tag follows Debian's newest release (13: ffmpeg 7.1, libmagic1t64).
FROM python:3.11-slim-bookworm
# libavcodec-extra: Debian's ffmpeg has no AMR-NB encoder without it, and legacy-30k's sound, and
# 3gp sound for old handsets, are AMR-NB (without it: tool.missing, or AAC in a 3gp).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmagic1 ffmpeg libavcodec-extra poppler-utils \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 mediaprep
WORKDIR /app
COPY pyproject.toml README.md ./
COPY mediaprep ./mediaprep
COPY profiles ./profiles
RUN pip install --no-cache-dir .
USER mediaprep
ENTRYPOINT ["mediaprep"]
CMD ["--help"]
