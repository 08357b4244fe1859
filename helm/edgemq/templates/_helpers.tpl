{{/*
Names and labels.
*/}}
{{- define "edgemq.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "edgemq.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "edgemq.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "edgemq.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edgemq.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "edgemq.labels" -}}
helm.sh/chart: {{ include "edgemq.chart" . }}
{{ include "edgemq.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: edgemq
{{- end -}}

{{- define "edgemq.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "edgemq.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "edgemq.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
Kubernetes Service type of a listener's spec.serviceType (any casing, Azure's ClusterIp included).
Argument: the serviceType value (may be empty).
*/}}
{{- define "edgemq.serviceType" -}}
{{- $t := lower (toString (default "ClusterIp" .)) -}}
{{- if eq $t "loadbalancer" -}}LoadBalancer{{- else if eq $t "nodeport" -}}NodePort{{- else -}}ClusterIP{{- end -}}
{{- end -}}

{{/*
Service name of a listener: spec.serviceName, else <fullname> for ClusterIP and
<fullname>-loadbalancer / <fullname>-nodeport for the other types.
Argument: (list $root $listener).
*/}}
{{- define "edgemq.listenerServiceName" -}}
{{- $root := index . 0 -}}
{{- $l := index . 1 -}}
{{- $spec := default (dict) $l.spec -}}
{{- if $spec.serviceName -}}
{{- $spec.serviceName -}}
{{- else -}}
{{- $type := include "edgemq.serviceType" $spec.serviceType -}}
{{- $base := include "edgemq.fullname" $root -}}
{{- if eq $type "ClusterIP" -}}
{{- $base -}}
{{- else -}}
{{- printf "%s-%s" ($base | trunc 50 | trimSuffix "-") (lower $type) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The ports of a listener as a YAML list of {port, nodePort, protocol}: spec.ports (later shape) or
spec.port (2023 shape). Argument: the listener value. Use with fromYamlArray.
*/}}
{{- define "edgemq.listenerPorts" -}}
{{- $spec := default (dict) .spec -}}
{{- if $spec.ports -}}
{{- toYaml $spec.ports -}}
{{- else if hasKey $spec "port" -}}
{{- toYaml (list (dict "port" $spec.port "nodePort" $spec.nodePort "protocol" $spec.protocol)) -}}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/*
"true" when a listener gets a Service and NetworkPolicy ingress (expose unset counts as true).
Argument: the listener value.
*/}}
{{- define "edgemq.exposed" -}}
{{- if or (not (hasKey . "expose")) .expose -}}true{{- end -}}
{{- end -}}

{{/*
Name of a container/Service port: mqtt-<port> or ws-<port> (at most 15 characters).
Argument: a port entry.
*/}}
{{- define "edgemq.portName" -}}
{{- $proto := lower (toString (default "mqtt" .protocol)) -}}
{{- if hasPrefix "web" $proto -}}ws-{{ int .port }}{{- else -}}mqtt-{{ int .port }}{{- end -}}
{{- end -}}

{{/*
DNS names of a Service, as a YAML list. Argument: (list $root $serviceName).
*/}}
{{- define "edgemq.serviceDnsNames" -}}
{{- $root := index . 0 -}}
{{- $svc := index . 1 -}}
{{- $ns := $root.Release.Namespace -}}
{{- toYaml (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns $root.Values.clusterDomain)) -}}
{{- end -}}

{{/*
Adds DNS names to the san.dns of an automatic-TLS settings object, in place.
Argument: (list $tlsObject $key $dnsNames) where $tlsObject[$key] holds the certificate settings.
*/}}
{{- define "edgemq.addSan" -}}
{{- $tls := index . 0 -}}
{{- $key := index . 1 -}}
{{- $names := index . 2 -}}
{{- $cert := default (dict) (get $tls $key) -}}
{{- $san := default (dict) $cert.san -}}
{{- $_ := set $san "dns" (concat (default (list) $san.dns) $names | uniq) -}}
{{- $_ := set $cert "san" $san -}}
{{- $_ := set $tls $key $cert -}}
{{- end -}}

{{/*
Sizing by memory profile: per-pod budget of the embedded broker (front end + back end in one process,
after the Azure IoT MQ profile table), the CPU request, and Node's heap (75% of the budget).
*/}}
{{- define "edgemq.profile" -}}
{{- $name := lower (toString (default "medium" .Values.broker.memoryProfile)) -}}
{{- $table := dict "tiny" (dict "cpu" "100m" "memory" "256Mi" "heapMiB" 192) "low" (dict "cpu" "250m" "memory" "1Gi" "heapMiB" 768) "medium" (dict "cpu" "500m" "memory" "4Gi" "heapMiB" 3072) "high" (dict "cpu" "1" "memory" "12Gi" "heapMiB" 9216) -}}
{{- if not (hasKey $table $name) -}}
{{- fail (printf "broker.memoryProfile: %q is not one of tiny, low, medium, high" $name) -}}
{{- end -}}
{{- toYaml (get $table $name) -}}
{{- end -}}

{{/*
The edgemq resources (multi-document YAML) the broker loads from /etc/edgemq/resources.
*/}}
{{- define "edgemq.resources" -}}
{{- $root := . -}}
{{- $ops := .Values.operations -}}
{{- $admin := dict "mode" "Disabled" -}}
{{- if $ops.admin.enabled -}}
{{- $admin = dict "port" (int $ops.admin.port) "tokenSecretRef" (include "edgemq.adminSecretName" .) -}}
{{- end -}}
{{- $opsSpec := dict "diagnostics" (dict "metrics" (dict "prometheusPort" (int $ops.metrics.port))) "edgemq" (dict "admin" $admin) -}}
{{- $brokerSpec := merge (dict "memoryProfile" .Values.broker.memoryProfile) $opsSpec (deepCopy (default (dict) .Values.broker.spec)) -}}
apiVersion: mq.edgemq.io/v1beta1
kind: Broker
metadata:
  name: {{ .Values.broker.name | quote }}
spec:
  {{- toYaml $brokerSpec | nindent 2 }}
{{- range $name, $l := .Values.listeners }}
{{- if $l.enabled }}
{{- $spec := deepCopy (default (dict) $l.spec) }}
{{- $svc := include "edgemq.listenerServiceName" (list $root $l) }}
{{- $dns := include "edgemq.serviceDnsNames" (list $root $svc) | fromYamlArray }}
{{- $_ := set $spec "brokerRef" (default $root.Values.broker.name $spec.brokerRef) }}
{{- $_ := set $spec "serviceName" $svc }}
{{- if $spec.tls }}
{{- if hasKey $spec.tls "automatic" }}
{{- $_ := include "edgemq.addSan" (list $spec.tls "automatic" $dns) }}
{{- end }}
{{- end }}
{{- range $p := (default (list) $spec.ports) }}
{{- if $p.tls }}
{{- if eq (lower (toString (default "" $p.tls.mode))) "automatic" }}
{{- $_ := include "edgemq.addSan" (list $p.tls "certManagerCertificateSpec" $dns) }}
{{- end }}
{{- end }}
{{- end }}
---
apiVersion: mq.edgemq.io/v1beta1
kind: BrokerListener
metadata:
  name: {{ $name | quote }}
spec:
  {{- toYaml $spec | nindent 2 }}
{{- end }}
{{- end }}
{{- range $name, $a := .Values.authentications }}
{{- if $a.enabled }}
---
apiVersion: mq.edgemq.io/v1beta1
kind: BrokerAuthentication
metadata:
  name: {{ $name | quote }}
spec:
  {{- toYaml $a.spec | nindent 2 }}
{{- end }}
{{- end }}
{{- range $name, $a := .Values.authorizations }}
{{- if $a.enabled }}
---
apiVersion: mq.edgemq.io/v1beta1
kind: BrokerAuthorization
metadata:
  name: {{ $name | quote }}
spec:
  {{- toYaml $a.spec | nindent 2 }}
{{- end }}
{{- end }}
{{- range .Values.extraResources }}
---
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Secret holding the admin API's bearer token (key `token`), mounted at /etc/edgemq/secrets/<name>/.
*/}}
{{- define "edgemq.adminSecretName" -}}
{{- default (printf "%s-admin-token" (include "edgemq.fullname" .)) .Values.operations.admin.existingSecret -}}
{{- end -}}
