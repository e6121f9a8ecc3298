// compliance_model.go — the types the security-agent decodes GET /compliance/dbconfig into:
// datadog-agent pkg/compliance/dbconfig (types.go: DBResource, DBConfig, mongoDBConfig,
// cassandraDBConfig, cassandraLogback), field for field with the same Go types and json tags.
// config_data is an interface{} in DBConfig; the suite decodes it again into the typed structs,
// whose re-encoding by encoding/json must give back the daemon's bytes.
package agent

// DBResource mirrors dbconfig.DBResource (Type is types.ResourceType, a string).
type DBResource struct {
	Type        string   `json:"type"`
	ContainerID string   `json:"container_id,omitempty"`
	Config      DBConfig `json:"config"`
}

// DBConfig mirrors dbconfig.DBConfig.
type DBConfig struct {
	ProcessName     string            `json:"process_name,omitempty"`
	ProcessUser     string            `json:"process_user,omitempty"`
	ProcessFlags    map[string]string `json:"process_flags,omitempty"`
	ConfigFilePath  string            `json:"config_file_path"`
	ConfigFileUser  string            `json:"config_file_user"`
	ConfigFileGroup string            `json:"config_file_group"`
	ConfigFileMode  uint32            `json:"config_file_mode"`
	ConfigData      interface{}       `json:"config_data"`
}

// MongoDBConfig mirrors dbconfig.mongoDBConfig (pointers with omitempty; Net.SSL is a value).
type MongoDBConfig struct {
	SystemLog *struct {
		Verbosity          *int    `json:"verbosity,omitempty"`
		Quiet              *bool   `json:"quiet,omitempty"`
		TraceAllExceptions *bool   `json:"traceAllExceptions,omitempty"`
		SyslogFacility     *string `json:"syslogFacility,omitempty"`
		Path               *string `json:"path,omitempty"`
		LogAppend          *bool   `json:"logAppend,omitempty"`
		LogRotate          *string `json:"logRotate,omitempty"`
		Destination        *string `json:"destination,omitempty"`
		TimeStampFormat    *string `json:"timeStampFormat,omitempty"`
	} `json:"systemLog,omitempty"`
	Net *struct {
		Port                   *int    `json:"port,omitempty"`
		BindIP                 *string `json:"bindIp,omitempty"`
		BindIPAll              *bool   `json:"bindIpAll,omitempty"`
		MaxIncomingConnections *int    `json:"maxIncomingConnections,omitempty"`
		WireObjectCheck        *bool   `json:"wireObjectCheck,omitempty"`
		Ipv6                   *bool   `json:"ipv6,omitempty"`
		UnixDomainSocket       *struct {
			Enabled         *bool   `json:"enabled,omitempty"`
			FilePermissions *int    `json:"filePermissions,omitempty"`
			PathPrefix      *string `json:"pathPrefix,omitempty"`
		} `json:"unixDomainSocket,omitempty"`
		TLS *struct {
			AllowConnectionsWithoutCertificates *bool   `json:"allowConnectionsWithoutCertificates,omitempty"`
			AllowInvalidCertificates            *bool   `json:"allowInvalidCertificates,omitempty"`
			AllowInvalidHostnames               *bool   `json:"allowInvalidHostnames,omitempty"`
			CAFile                              *string `json:"CAFile,omitempty"`
			CertificateKeyFile                  *string `json:"certificateKeyFile,omitempty"`
			CertificateSelector                 *string `json:"certificateSelector,omitempty"`
			ClusterCAFile                       *string `json:"clusterCAFile,omitempty"`
			ClusterCertificateSelector          *string `json:"clusterCertificateSelector,omitempty"`
			ClusterFile                         *string `json:"clusterFile,omitempty"`
			CRLFile                             *string `json:"CRLFile,omitempty"`
			DisabledProtocols                   *string `json:"disabledProtocols,omitempty"`
			FIPSMode                            *bool   `json:"FIPSMode,omitempty"`
			LogVersions                         *string `json:"logVersions,omitempty"`
			Mode                                *string `json:"mode,omitempty"`
			ClusterAuthX509                     *struct {
				Attributes     *string `json:"attributes,omitempty"`
				ExtensionValue *string `json:"extensionValue,omitempty"`
			} `json:"clusterAuthX509,omitempty"`
		} `json:"tls,omitempty"`
		SSL struct {
			AllowConnectionsWithoutCertificates *bool   `json:"allowConnectionsWithoutCertificates,omitempty"`
			AllowInvalidCertificates            *bool   `json:"allowInvalidCertificates,omitempty"`
			AllowInvalidHostnames               *bool   `json:"allowInvalidHostnames,omitempty"`
			CAFile                              *string `json:"CAFile,omitempty"`
			CertificateSelector                 *string `json:"certificateSelector,omitempty"`
			ClusterCAFile                       *string `json:"clusterCAFile,omitempty"`
			ClusterCertificateSelector          *string `json:"clusterCertificateSelector,omitempty"`
			ClusterFile                         *string `json:"clusterFile,omitempty"`
			CRLFile                             *string `json:"CRLFile,omitempty"`
			DisabledProtocols                   *string `json:"disabledProtocols,omitempty"`
			FIPSMode                            *bool   `json:"FIPSMode,omitempty"`
			Mode                                *string `json:"mode,omitempty"`
			PEMKeyFile                          *string `json:"PEMKeyFile,omitempty"`
			SslOnNormalPorts                    *bool   `json:"sslOnNormalPorts,omitempty"`
		} `json:"ssl,omitempty"`
	} `json:"net,omitempty"`
	Security *struct {
		Authorization            *string   `json:"authorization,omitempty"`
		ClusterAuthMode          *string   `json:"clusterAuthMode,omitempty"`
		ClusterIPSourceAllowlist *[]string `json:"clusterIpSourceAllowlist,omitempty"`
		ClusterIPSourceWhitelist *[]string `json:"clusterIpSourceWhitelist,omitempty"`
		EnableEncryption         *bool     `json:"enableEncryption,omitempty"`
		EncryptionCipherMode     *string   `json:"encryptionCipherMode,omitempty"`
		EncryptionKeyFile        *string   `json:"encryptionKeyFile,omitempty"`
		JavascriptEnabled        *bool     `json:"javascriptEnabled,omitempty"`
		KeyFile                  *string   `json:"keyFile,omitempty"`
		RedactClientLogData      *bool     `json:"redactClientLogData,omitempty"`
		TransitionToAuth         *bool     `json:"transitionToAuth,omitempty"`
		KMIP                     *struct {
			KeyIdentifier             *string `json:"keyIdentifier,omitempty"`
			RotateMasterKey           *bool   `json:"rotateMasterKey,omitempty"`
			ServerName                *string `json:"serverName,omitempty"`
			Port                      *string `json:"port,omitempty"`
			ClientCertificateFile     *string `json:"clientCertificateFile,omitempty"`
			ClientCertificateSelector *string `json:"clientCertificateSelector,omitempty"`
			ServerCAFile              *string `json:"serverCAFile,omitempty"`
			ConnectRetries            *int    `json:"connectRetries,omitempty"`
			ConnectTimeoutMS          *int    `json:"connectTimeoutMS,omitempty"`
			ActivateKeys              *bool   `json:"activateKeys,omitempty"`
			KeyStatePollingSeconds    *int    `json:"keyStatePollingSeconds,omitempty"`
			UseLegacyProtocol         *bool   `json:"useLegacyProtocol,omitempty"`
		} `json:"kmip,omitempty"`
		SASL *struct {
			HostName            *string `json:"hostName,omitempty"`
			ServiceName         *string `json:"serviceName,omitempty"`
			SaslauthdSocketPath *string `json:"saslauthdSocketPath,omitempty"`
		} `json:"sasl,omitempty"`
		LDAP *struct {
			Servers                  *string `json:"servers,omitempty"`
			TransportSecurity        *string `json:"transportSecurity,omitempty"`
			TimeoutMS                *int    `json:"timeoutMS,omitempty"`
			RetryCount               *int    `json:"retryCount,omitempty"`
			UserToDNMapping          *string `json:"userToDNMapping,omitempty"`
			ValidateLDAPServerConfig *bool   `json:"validateLDAPServerConfig,omitempty"`
			Authz                    *struct {
				QueryTemplate *string `json:"queryTemplate,omitempty"`
			} `json:"authz,omitempty"`
			Bind *struct {
				Method         *string `json:"method,omitempty"`
				QueryUser      *string `json:"queryUser,omitempty"`
				SaslMechanisms *string `json:"saslMechanisms,omitempty"`
				UseOSDefaults  *bool   `json:"useOSDefaults,omitempty"`
			} `json:"bind,omitempty"`
		} `json:"ldap,omitempty"`
	} `json:"security,omitempty"`
	Sharding *struct {
		ArchiveMovedChunks *bool   `json:"archiveMovedChunks,omitempty"`
		ClusterRole        *string `json:"clusterRole,omitempty"`
		ConfigDB           *string `json:"configDB,omitempty"`
	} `json:"sharding,omitempty"`
	Replication *struct {
		EnableMajorityReadConcern *bool   `json:"enableMajorityReadConcern,omitempty"`
		LocalPingThresholdMs      *int    `json:"localPingThresholdMs,omitempty"`
		OplogSizeMB               *int    `json:"oplogSizeMB,omitempty"`
		ReplSetName               *string `json:"replSetName,omitempty"`
	} `json:"replication,omitempty"`
	AuditLog *struct {
		AuditEncryptionKeyIdentifier *string `json:"auditEncryptionKeyIdentifier,omitempty"`
		CompressionMode              *string `json:"compressionMode,omitempty"`
		Destination                  *string `json:"destination,omitempty"`
		Filter                       *string `json:"filter,omitempty"`
		Format                       *string `json:"format,omitempty"`
		LocalAuditKeyFile            *string `json:"localAuditKeyFile,omitempty"`
		Path                         *string `json:"path,omitempty"`
		RuntimeConfiguration         *bool   `json:"runtimeConfiguration,omitempty"`
	} `json:"auditLog,omitempty"`
	Storage *struct {
		DbPath                 *string  `json:"dbPath,omitempty"`
		DirectoryPerDB         *bool    `json:"directoryPerDB,omitempty"`
		SyncPeriodSecs         *int     `json:"syncPeriodSecs,omitempty"`
		Engine                 *string  `json:"engine,omitempty"`
		OplogMinRetentionHours *float64 `json:"oplogMinRetentionHours,omitempty"`
	} `json:"storage,omitempty"`
	SetParameter *struct {
		EnableLocalhostAuthBypass *bool   `json:"enableLocalhostAuthBypass,omitempty"`
		AuthenticationMechanisms  *string `json:"authenticationMechanisms,omitempty"`
	} `json:"setParameter,omitempty"`
}
