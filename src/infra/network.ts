/**
 * The extract task's network: a VPC of two AZs with private isolated subnets only, no NAT gateway
 * and no internet gateway. The task reaches AWS through VPC endpoints: S3 through the (free) gateway
 * endpoint, and ECR (api + docker), CloudWatch Logs, EventBridge and, when fields are encrypted, KMS
 * through interface endpoints that accept HTTPS from the task's security group only. Every flow is
 * logged to the log bucket.
 */
import {
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  InterfaceVpcEndpointAwsService,
  IpAddresses,
  Peer,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface EtlNetworkProps {
  /** Receives the VPC's flow logs (all traffic), under `vpc-flow-logs/`. */
  readonly flowLogBucket: IBucket;
  /** Adds the KMS interface endpoint (the task generates data keys). */
  readonly kmsEndpoint: boolean;
}

export class EtlNetwork extends Construct {
  /** Two AZs of isolated subnets, with the endpoints. */
  readonly vpc: Vpc;
  /** The extract task's: no inbound, HTTPS out to the endpoints and S3 only. */
  readonly taskSecurityGroup: SecurityGroup;

  constructor(scope: Construct, id: string, props: EtlNetworkProps) {
    super(scope, id);
    this.vpc = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr('10.42.0.0/16'),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'Isolated', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 22 }],
      gatewayEndpoints: { S3: { service: GatewayVpcEndpointAwsService.S3 } },
      flowLogs: {
        ToLogBucket: {
          destination: FlowLogDestination.toS3(props.flowLogBucket, 'vpc-flow-logs/'),
          trafficType: FlowLogTrafficType.ALL,
        },
      },
      restrictDefaultSecurityGroup: false,
    });
    this.taskSecurityGroup = new SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: this.vpc,
      description: 'Extract task: no inbound; HTTPS out to the VPC endpoints and S3',
      allowAllOutbound: false,
    });
    const endpointSecurityGroup = new SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'Interface endpoints: HTTPS from the extract task only',
      allowAllOutbound: false,
    });
    endpointSecurityGroup.addIngressRule(
      this.taskSecurityGroup,
      Port.tcp(443),
      'HTTPS from the extract task',
    );
    this.taskSecurityGroup.addEgressRule(
      endpointSecurityGroup,
      Port.tcp(443),
      'HTTPS to the interface endpoints',
    );
    // S3's addresses (its managed prefix list) need a lookup to name; the isolated subnets route
    // nothing but S3's prefix list (through the gateway endpoint) outside the VPC anyway.
    this.taskSecurityGroup.addEgressRule(
      Peer.anyIpv4(),
      Port.tcp(443),
      'HTTPS to S3 via the gateway endpoint',
    );

    const services: [string, InterfaceVpcEndpointAwsService][] = [
      ['EcrApi', InterfaceVpcEndpointAwsService.ECR],
      ['EcrDocker', InterfaceVpcEndpointAwsService.ECR_DOCKER],
      ['Logs', InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
      ['Events', InterfaceVpcEndpointAwsService.EVENTBRIDGE],
    ];
    if (props.kmsEndpoint) services.push(['Kms', InterfaceVpcEndpointAwsService.KMS]);
    for (const [id, service] of services) {
      this.vpc.addInterfaceEndpoint(id, {
        service,
        privateDnsEnabled: true,
        open: false,
        securityGroups: [endpointSecurityGroup],
        subnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      });
    }
  }
}
