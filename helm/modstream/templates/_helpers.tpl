{{/* Release-scoped name, at most 63 characters. */}}
{{- define "modstream.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the worker pods (never change them on upgrade: selectors are immutable). */}}
{{- define "modstream.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "modstream.labels" -}}
{{ include "modstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* A consumer beyond the partition count gets no partition: every replica count is capped by it. */}}
{{- define "modstream.maxReplicas" -}}
{{- min (int .Values.autoscaling.maxReplicas) (int .Values.topics.partitions) -}}
{{- end -}}

{{- define "modstream.replicas" -}}
{{- min (int .Values.replicaCount) (int .Values.topics.partitions) -}}
{{- end -}}

{{- define "modstream.minReplicas" -}}
{{- min (int .Values.autoscaling.minReplicas) (int (include "modstream.maxReplicas" .)) -}}
{{- end -}}

{{/* The Kafka lag query KEDA's prometheus trigger and the docs use. */}}
{{- define "modstream.lagQuery" -}}
{{- if .Values.autoscaling.keda.prometheus.query -}}
{{- .Values.autoscaling.keda.prometheus.query -}}
{{- else -}}
sum(modstream_consumer_lag{namespace="{{ .Release.Namespace }}", service="{{ include "modstream.fullname" . }}"})
{{- end -}}
{{- end -}}

{{/* Fail early on values that cannot work together. */}}
{{- define "modstream.validate" -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.shutdown.drainTimeoutSeconds) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be larger than shutdown.drainTimeoutSeconds (%v): the worker needs the time to finish its batch and commit" .Values.terminationGracePeriodSeconds .Values.shutdown.drainTimeoutSeconds) -}}
{{- end -}}
{{- if and (ne .Values.kafka.securityProtocol "PLAINTEXT") (ne .Values.kafka.securityProtocol "SSL") (not .Values.kafka.sasl.existingSecret) -}}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.existingSecret (a Secret holding the SASL password)" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (eq .Values.autoscaling.kind "keda") (eq .Values.autoscaling.keda.trigger "prometheus") (not .Values.autoscaling.keda.prometheus.serverAddress) -}}
{{- fail "autoscaling.keda.trigger=prometheus needs autoscaling.keda.prometheus.serverAddress" -}}
{{- end -}}
{{- end -}}
