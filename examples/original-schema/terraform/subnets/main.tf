# One subnet per zone inside the VPC.

terraform {
  required_version = ">= 1.0"
  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "2.1.2"
    }
  }
}

variable "vpc_id" {
  type = string
}

variable "vpc_cidr" {
  type = string
}

locals {
  zones = ["a", "b"]
}

resource "null_resource" "subnet" {
  for_each = toset(local.zones)

  triggers = {
    vpc_id = var.vpc_id
    cidr   = cidrsubnet(var.vpc_cidr, 8, index(local.zones, each.key))
  }
}

output "subnet_ids" {
  value = [for zone in local.zones : "${var.vpc_id}-subnet-${zone}"]
}
