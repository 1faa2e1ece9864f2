# The adapter in a Debian 12 image, running as a non-root user. The build stage uses the
# README's install script and the cmake commands of scripts/run.sh; the runtime stage holds
# the binary and the shared libraries it links (`ldd k8s-anomaly-detector`).
#   docker build -t k8s-anomaly-detector:0.1.0 .
#   docker run -p 9201:9201 -v "$PWD/examples:/etc/k8s-anomaly-detector/config:ro" \
#     k8s-anomaly-detector:0.1.0 --config.file=/etc/k8s-anomaly-detector/config/environment.yaml
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DKAD_BUILD_TESTS=OFF \
          -DKAD_BUILD_BENCHMARKS=OFF \
 && cmake --build build -j"$(nproc)" --target k8s-anomaly-detector

FROM debian:bookworm-slim
# python3 runs activities given as python_file.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libabsl20220623 libbz2-1.0 liblz4-1 \
      libprotobuf32 libre2-9 libsnappy1v5 libyaml-cpp0.7 libzstd1 zlib1g python3 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/k8s-anomaly-detector /etc/k8s-anomaly-detector/scripts \
 && chown 65532:65532 /var/lib/k8s-anomaly-detector
COPY --from=build /src/build/adapter/k8s-anomaly-detector /usr/local/bin/
USER 65532:65532
WORKDIR /var/lib/k8s-anomaly-detector
EXPOSE 9201
ENTRYPOINT ["k8s-anomaly-detector"]
CMD ["--config.file=/etc/k8s-anomaly-detector/config/environment.yaml", \
     "--activities.scripts-dir=/etc/k8s-anomaly-detector/scripts", \
     "--storage.path=/var/lib/k8s-anomaly-detector"]
