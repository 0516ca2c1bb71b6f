package main

// The cluster's kubelet-serving signer: the kube-controller-manager's own signing controller
// (k8s.io/kubernetes/pkg/controller/certificates/signer, the code behind
// --cluster-signing-cert-file/--cluster-signing-key-file), run in the rig process against its
// apiserver with the cluster CA (pki/server-ca: the CA clients already trust, as on EKS).
//
// --signer=sign (default) issues every approved kubernetes.io/kubelet-serving CSR that passes
// the controller's own validation (and marks the others Failed, as kube-controller-manager does).
// --signer=off runs no signer: approved CSRs stay without a certificate.
// --signer=refuse runs the same certificate controller loop with a handler that marks every
// approved kubelet-serving CSR Failed (reason RigSignerRefused), standing in for a signer
// with a policy of its own: kube-controller-manager never fails a CSR this product approves
// (its validation is the policy's rules 1, 3-7), so a real refusal can only come from elsewhere.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	capi "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/controller/certificates"
	"k8s.io/kubernetes/pkg/controller/certificates/signer"
)

const (
	signerSign   = "sign"
	signerOff    = "off"
	signerRefuse = "refuse"
	// kube-controller-manager's default --cluster-signing-duration.
	signerTTL = 8760 * time.Hour
)

func validSignerMode(mode string) bool {
	return mode == signerSign || mode == signerOff || mode == signerRefuse
}

// adminRestConfig: the signer acts with the rig admin's client certificate (system:masters);
// kube-controller-manager would use its own identity, which changes nothing for the API calls.
func adminRestConfig(info *clusterInfo) *rest.Config {
	admin := info.Identities["admin"]
	return &rest.Config{
		Host: info.Server,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile:   info.CAFile,
			CertFile: admin.CertFile,
			KeyFile:  admin.KeyFile,
		},
		QPS:   50,
		Burst: 100,
	}
}

// startSigner runs until ctx ends. Its klog output goes to <dir>/signer.log.
func startSigner(ctx context.Context, info *clusterInfo, mode string) error {
	if mode == signerOff {
		return nil
	}
	logFile, err := os.Create(filepath.Join(info.Dir, "signer.log"))
	if err != nil {
		return err
	}
	klog.LogToStderr(false)
	klog.SetOutput(logFile)
	client, err := kubernetes.NewForConfig(adminRestConfig(info))
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	csrInformer := factory.Certificates().V1().CertificateSigningRequests()
	var run func(context.Context, int)
	switch mode {
	case signerSign:
		pki := filepath.Join(info.Dir, "pki")
		controller, err := signer.NewKubeletServingCSRSigningController(ctx, client, csrInformer,
			filepath.Join(pki, "server-ca.crt"), filepath.Join(pki, "server-ca.key"), signerTTL)
		if err != nil {
			return fmt.Errorf("kubelet-serving signer: %w", err)
		}
		run = controller.Run
	case signerRefuse:
		controller := certificates.NewCertificateController(ctx, "rig-refusing-signer", client, csrInformer, refuse(client))
		run = controller.Run
	default:
		return fmt.Errorf("unknown --signer mode %q (sign, off or refuse)", mode)
	}
	factory.Start(ctx.Done())
	go run(ctx, 2)
	return nil
}

func refuse(client kubernetes.Interface) func(context.Context, *capi.CertificateSigningRequest) error {
	return func(ctx context.Context, csr *capi.CertificateSigningRequest) error {
		if csr.Spec.SignerName != capi.KubeletServingSignerName || len(csr.Status.Certificate) > 0 ||
			!certificates.IsCertificateRequestApproved(csr) || certificates.HasTrueCondition(csr, capi.CertificateFailed) {
			return nil
		}
		csr = csr.DeepCopy()
		csr.Status.Conditions = append(csr.Status.Conditions, capi.CertificateSigningRequestCondition{
			Type:           capi.CertificateFailed,
			Status:         v1.ConditionTrue,
			Reason:         "RigSignerRefused",
			Message:        "the rig's signer runs with --signer=refuse",
			LastUpdateTime: metav1.Now(),
		})
		_, err := client.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, csr, metav1.UpdateOptions{})
		return err
	}
}
