{{/* Names, labels, the adapter container (shared by the StatefulSet and the sidecar values)
     and the Prometheus remote_write/remote_read entries (shared by the ConfigMap and NOTES). */}}

{{- define "kad.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kad.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "kad.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "kad.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kad.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kad.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kad.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kad.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Tells the headless Service from the other one, for the ServiceMonitor. */}}
{{- define "kad.headlessLabel" -}}
app.kubernetes.io/component: headless
{{- end -}}

{{/* Refuses values that cannot work; included by every template that depends on them. */}}
{{- define "kad.validate" -}}
{{- if not (has .Values.mode (list "standalone" "sidecar")) -}}
{{- fail (printf "mode must be standalone or sidecar, not %q" .Values.mode) -}}
{{- end -}}
{{- $r := .Values.replicas -}}
{{- if or (lt (int $r) 1) (ne (float64 (int $r)) (float64 $r)) -}}
{{- fail (printf "replicas must be a whole number >= 1, not %v" .Values.replicas) -}}
{{- end -}}
{{- if and (eq .Values.mode "sidecar") (gt (int .Values.replicas) 1) -}}
{{- fail "mode sidecar runs one adapter per Prometheus pod; replicas > 1 needs mode standalone" -}}
{{- end -}}
{{- if not .Values.sharding.hashLabels -}}
{{- fail "sharding.hashLabels must name at least one label" -}}
{{- end -}}
{{- end -}}

{{/* The adapter container. Argument: dict "ctx" (root) "dataVolume" "dataSubPath". */}}
{{- define "kad.container" -}}
{{- $v := .ctx.Values -}}
name: k8s-anomaly-detector
image: {{ printf "%s:%s" $v.image.repository (default .ctx.Chart.AppVersion $v.image.tag) | quote }}
imagePullPolicy: {{ $v.image.pullPolicy }}
args:
  - --config.file=/etc/k8s-anomaly-detector/config/environment.yaml
  {{- if $v.config.activities }}
  - --activities.file=/etc/k8s-anomaly-detector/config/activities.yaml
  {{- end }}
  - --activities.scripts-dir=/etc/k8s-anomaly-detector/scripts
  - --storage.path=/var/lib/k8s-anomaly-detector
  - --web.listen-address=:{{ $v.port }}
  {{- range $v.extraArgs }}
  - {{ . | quote }}
  {{- end }}
ports:
  - name: http
    containerPort: {{ $v.port }}
    protocol: TCP
livenessProbe:
  httpGet: {path: /-/healthy, port: {{ $v.port }}}
  {{- toYaml $v.livenessProbe | nindent 2 }}
readinessProbe:
  httpGet: {path: /-/ready, port: {{ $v.port }}}
  {{- toYaml $v.readinessProbe | nindent 2 }}
securityContext:
  {{- toYaml $v.securityContext | nindent 2 }}
resources:
  {{- toYaml $v.resources | nindent 2 }}
volumeMounts:
  - name: kad-config
    mountPath: /etc/k8s-anomaly-detector/config
    readOnly: true
  - name: kad-scripts
    mountPath: /etc/k8s-anomaly-detector/scripts
    readOnly: true
  - name: kad-tmp
    mountPath: /tmp
  - name: {{ .dataVolume }}
    mountPath: /var/lib/k8s-anomaly-detector
    {{- with .dataSubPath }}
    subPath: {{ . }}
    {{- end }}
{{- end -}}

{{/* The volumes the container mounts, except its data volume. Argument: root. */}}
{{- define "kad.volumes" -}}
- name: kad-config
  configMap:
    name: {{ include "kad.fullname" . }}-config
- name: kad-scripts
  configMap:
    name: {{ include "kad.fullname" . }}-scripts
- name: kad-tmp
  emptyDir: {}
{{- end -}}

{{/* Base URL of each adapter Prometheus writes to, one per shard. */}}
{{- define "kad.endpoints" -}}
{{- $urls := list -}}
{{- if eq .Values.mode "sidecar" -}}
{{- $urls = list (printf "http://localhost:%v" .Values.port) -}}
{{- else -}}
{{- $fullname := include "kad.fullname" . -}}
{{- range $i := until (int .Values.replicas) -}}
{{- $host := printf "%s-%d.%s-headless.%s.svc.%s" $fullname $i $fullname $.Release.Namespace
      $.Values.clusterDomain -}}
{{- $urls = append $urls (printf "http://%s:%v" $host $.Values.port) -}}
{{- end -}}
{{- end -}}
{{- toJson $urls -}}
{{- end -}}

{{/* remote_write and remote_read entries for all shards. Argument: dict "ctx" (root) and
     "camel" (true: prometheus-operator field names, false: prometheus.yml names). With more
     than one shard, shard i keeps the series whose hashmod of sharding.hashLabels is i and
     drops the temporary label, so the adapter never sees it. */}}
{{- define "kad.remoteConfig" -}}
{{- $v := .ctx.Values -}}
{{- $c := .camel -}}
{{- $urls := include "kad.endpoints" .ctx | fromJsonArray -}}
{{- $n := len $urls -}}
{{- $writes := list -}}
{{- $reads := list -}}
{{- range $i, $url := $urls -}}
{{- $name := printf "%s-%d" (include "kad.fullname" $.ctx) $i -}}
{{- $w := dict "url" (printf "%s/api/v1/write" $url) "name" $name -}}
{{- if gt $n 1 -}}
{{- $relabel := list
      (dict (ternary "sourceLabels" "source_labels" $c) $v.sharding.hashLabels
            "modulus" $n (ternary "targetLabel" "target_label" $c) "__tmp_kad_shard"
            "action" "hashmod")
      (dict (ternary "sourceLabels" "source_labels" $c) (list "__tmp_kad_shard")
            "regex" (toString $i) "action" "keep")
      (dict "regex" "__tmp_kad_shard" "action" "labeldrop") -}}
{{- $_ := set $w (ternary "writeRelabelConfigs" "write_relabel_configs" $c) $relabel -}}
{{- end -}}
{{- $writes = append $writes $w -}}
{{- $reads = append $reads (dict "url" (printf "%s/api/v1/read" $url) "name" $name
      (ternary "readRecent" "read_recent" $c) true) -}}
{{- end -}}
{{- toYaml (dict (ternary "remoteWrite" "remote_write" $c) $writes
                 (ternary "remoteRead" "remote_read" $c) $reads) -}}
{{- end -}}

{{/* kube-prometheus-stack values: the remote endpoints, and in sidecar mode the container. */}}
{{- define "kad.kubePrometheusStackValues" -}}
{{- $spec := include "kad.remoteConfig" (dict "ctx" . "camel" true) | fromYaml -}}
{{- if eq .Values.mode "sidecar" -}}
{{- $args := dict "ctx" . "dataVolume" .Values.sidecar.dataVolume
      "dataSubPath" .Values.sidecar.subPath -}}
{{- $container := include "kad.container" $args | fromYaml -}}
{{- /* Prometheus' pod must stay ready while the adapter loads or fails: no readiness
       probe here (remote write retries the adapter's 503s meanwhile). */ -}}
{{- $_ := unset $container "readinessProbe" -}}
{{- $_ := set $spec "containers" (list $container) -}}
{{- $_ := set $spec "volumes" (include "kad.volumes" . | fromYamlArray) -}}
{{- end -}}
{{- toYaml (dict "prometheus" (dict "prometheusSpec" $spec)) -}}
{{- end -}}
