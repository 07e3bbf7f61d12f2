{{/* Chart name. */}}
{{- define "tenantdb-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "tenantdb-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tenantdb-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "tenantdb-operator.labels" -}}
helm.sh/chart: {{ include "tenantdb-operator.chart" . }}
{{ include "tenantdb-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tenantdb-operator
{{- end }}

{{/* Labels selecting the operator's pods. */}}
{{- define "tenantdb-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tenantdb-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tenantdb-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tenantdb-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tenantdb-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "tenantdb-operator.leaderElectionNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{- define "tenantdb-operator.terminationGracePeriodSeconds" -}}
{{- $grace := .Values.terminationGracePeriodSeconds | default (add .Values.gracefulShutdownTimeoutSeconds 15) | int }}
{{- if le $grace (int .Values.gracefulShutdownTimeoutSeconds) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above gracefulShutdownTimeoutSeconds (%d)" $grace (int .Values.gracefulShutdownTimeoutSeconds)) }}
{{- end }}
{{- $grace }}
{{- end }}

{{/* The RBAC rules as data (files/rbac-rules.yaml). */}}
{{- define "tenantdb-operator.rules" -}}
{{- .Files.Get "files/rbac-rules.yaml" }}
{{- end }}
